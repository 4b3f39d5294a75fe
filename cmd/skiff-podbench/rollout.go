package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/cmd/internal/benchkit"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// rolloutRun is one rolling update of the bench Deployment under wrk.
type rolloutRun struct {
	name     string        // the table's column
	load     string        // how wrk connects
	recipe   bool          // the old pods follow the zero-downtime recipe
	image    string        // rolled to
	took     time.Duration // image changed -> every pod new, ready, none terminating
	rate     float64       // requests/s over wrk's whole run
	requests int64
	failed   int64  // non-2xx answers and socket errors
	errors   string // wrk's error lines
}

// measureRollout runs a Deployment of n replicas behind a Service (the
// zero-downtime recipe: readiness probe, maxUnavailable 0, maxSurge 25%,
// an application that drains for a second after SIGTERM) and rolls it to
// the other image under wrk through the cluster IP: with keep-alive
// connections, then with a connection per request. Then, to show what the
// drain is for, once more with keep-alive connections and old pods that
// shut down at once.
func measureRollout(ctx context.Context, c *client.Client, n int) ([]rolloutRun, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		benchkit.Progress("wrk missing (make deps): no rolling-update figure")
		return nil, nil
	}
	deployRes, _ := c.Registry().ByKind("Deployment")
	svcRes, _ := c.Registry().ByKind("Service")
	podsRes, _ := c.Registry().ByKind("Pod")
	d := rollDeployment(n)
	if _, err := c.Create(ctx, d); err != nil {
		return nil, err
	}
	defer func() {
		// The pods go before the agent stops: nothing may stay.
		c.Delete(context.Background(), deployRes, "default", d.Name, nil)
		benchkit.WaitFor(context.Background(), 120*time.Second, func() bool {
			l, err := c.List(context.Background(), podsRes, client.ListOptions{Namespace: "default", LabelSelector: "app=roll"})
			return err == nil && len(l.Items) == 0
		})
	}()
	svc, err := c.Create(ctx, &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "roll", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "roll"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}})
	if err != nil {
		return nil, err
	}
	defer c.Delete(context.Background(), svcRes, "default", "roll", nil)
	vip := "http://" + svc.(*corev1.Service).Spec.ClusterIP + "/"
	benchkit.Progress("waiting for the %d replicas of deployment/roll", n)
	if err := waitRolledOut(ctx, c, n, "skiff.local/echo:1"); err != nil {
		return nil, err
	}
	var runs []rolloutRun
	for _, r := range []struct {
		name, load, image string
		recipe            bool
	}{
		{"keep-alive", "keep-alive", "skiff.local/echo:2", true},
		{"a connection per request", "close", "skiff.local/echo:1", true},
		{"keep-alive, no drain (not the recipe)", "keep-alive", "skiff.local/echo:1", false},
	} {
		if !r.recipe {
			// Unmeasured: pods that stop at once on SIGTERM, to be
			// replaced under load next.
			benchkit.Progress("rolling %d replicas to pods without SHUTDOWN_DELAY", n)
			if err := changeTemplate(ctx, c, func(ct *corev1.Container) {
				ct.Image, ct.Env = "skiff.local/echo:2", nil
			}); err != nil {
				return nil, err
			}
			if err := waitRolledOut(ctx, c, n, "skiff.local/echo:2"); err != nil {
				return nil, err
			}
		}
		benchkit.Progress("rolling %d replicas to %s under wrk (%s)", n, r.image, r.name)
		run, err := rollUnderLoad(ctx, c, vip, n, r.image, r.load)
		if err != nil {
			return nil, err
		}
		run.name, run.load, run.recipe = r.name, r.load, r.recipe
		runs = append(runs, *run)
	}
	return runs, nil
}

// changeTemplate changes the bench Deployment's container.
func changeTemplate(ctx context.Context, c *client.Client, change func(*corev1.Container)) error {
	deployRes, _ := c.Registry().ByKind("Deployment")
	for {
		obj, err := c.Get(ctx, deployRes, "default", "roll")
		if err != nil {
			return err
		}
		d := obj.(*appsv1.Deployment)
		change(&d.Spec.Template.Spec.Containers[0])
		if _, err := c.Update(ctx, d); err == nil || !apierrors.IsConflict(err) {
			return err
		}
	}
}

func rollDeployment(n int) *appsv1.Deployment {
	labels := map[string]string{"app": "roll"}
	surge := intstr.FromString("25%")
	unavailable := intstr.FromInt32(0)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "roll", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(n)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To(int64(5)),
					Containers: []corev1.Container{{
						Name: "echo", Image: "skiff.local/echo:1",
						// Keep serving a second after SIGTERM, answering
						// "Connection: close": keep-alive clients move on.
						Env:   []corev1.EnvVar{{Name: "SHUTDOWN_DELAY", Value: "1s"}},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{PeriodSeconds: 1,
							ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")}}},
					}},
				},
			},
		},
	}
}

// rollUnderLoad starts wrk at the cluster IP, changes the Deployment's
// image a second later, waits until the rollout is over (every pod new
// and ready, none terminating) and stops wrk a second after that.
func rollUnderLoad(ctx context.Context, c *client.Client, vip string, n int, image, load string) (*rolloutRun, error) {
	args := []string{"-t2", fmt.Sprintf("-c%d", wrkConns), "-d600s", "--timeout", "2s"}
	if load == "close" {
		args = append(args, "-H", "Connection: close")
	}
	wrkCmd := exec.CommandContext(ctx, "wrk", append(args, vip)...)
	var out strings.Builder
	wrkCmd.Stdout, wrkCmd.Stderr = &out, &out
	if err := wrkCmd.Start(); err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			wrkCmd.Process.Kill()
			wrkCmd.Wait()
		}
	}()
	time.Sleep(time.Second)

	start := time.Now()
	if err := changeTemplate(ctx, c, func(ct *corev1.Container) { ct.Image = image }); err != nil {
		return nil, err
	}
	if err := waitRolledOut(ctx, c, n, image); err != nil {
		return nil, err
	}
	took := time.Since(start)
	time.Sleep(time.Second)
	wrkCmd.Process.Signal(syscall.SIGINT)
	err := wrkCmd.Wait()
	stopped = true
	if err != nil {
		return nil, fmt.Errorf("wrk: %v:\n%s", err, out.String())
	}
	run, err := parseWrk(out.String())
	if err != nil {
		return nil, err
	}
	run.image, run.took = image, took
	return run, nil
}

// waitRolledOut waits until the Deployment's pods are n, all running
// image, Ready, and none is terminating.
func waitRolledOut(ctx context.Context, c *client.Client, n int, image string) error {
	podsRes, _ := c.Registry().ByKind("Pod")
	return benchkit.WaitFor(ctx, 180*time.Second, func() bool {
		l, err := c.List(ctx, podsRes, client.ListOptions{Namespace: "default", LabelSelector: "app=roll"})
		if err != nil || len(l.Items) != n {
			return false
		}
		for _, o := range l.Items {
			p := o.(*corev1.Pod)
			if p.DeletionTimestamp != nil || p.Spec.Containers[0].Image != image || !podReady(p) {
				return false
			}
		}
		return true
	})
}

var (
	wrkTotal    = regexp.MustCompile(`(\d+) requests in`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkErrLines = regexp.MustCompile(`(?m)^\s*(Socket errors:.*|Non-2xx or 3xx responses:.*)$`)
)

// parseWrk reads wrk's summary: requests/s, requests, and as failed the
// non-2xx (or 3xx) answers plus every socket error.
func parseWrk(out string) (*rolloutRun, error) {
	r := &rolloutRun{}
	m := wrkRate.FindStringSubmatch(out)
	t := wrkTotal.FindStringSubmatch(out)
	if m == nil || t == nil {
		return nil, fmt.Errorf("wrk: no Requests/sec in:\n%s", out)
	}
	r.rate, _ = strconv.ParseFloat(m[1], 64)
	r.requests, _ = strconv.ParseInt(t[1], 10, 64)
	if s := wrkSocket.FindStringSubmatch(out); s != nil {
		for _, v := range s[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			r.failed += n
		}
	}
	if s := wrkNon2xx.FindStringSubmatch(out); s != nil {
		n, _ := strconv.ParseInt(s[1], 10, 64)
		r.failed += n
	}
	var lines []string
	for _, l := range wrkErrLines.FindAllStringSubmatch(out, -1) {
		lines = append(lines, strings.TrimSpace(l[1]))
	}
	r.errors = strings.Join(lines, "; ")
	return r, nil
}

// printRollouts writes the rolling-update table: one column per run.
func printRollouts(n int, runs []rolloutRun) {
	fmt.Printf("rolling update of %d replicas under load (wrk -t2 -c%d from the host through the cluster IP, from a second before the\n"+
		"image changes until a second after the last old pod is gone; readiness probe, maxSurge 25%%, maxUnavailable 0,\n"+
		"the application drains for SHUTDOWN_DELAY=1s after SIGTERM, answering \"Connection: close\"):\n\n", n, wrkConns)
	cells := func(f func(r rolloutRun) string) string {
		var c []string
		for _, r := range runs {
			c = append(c, f(r))
		}
		return strings.Join(c, " | ")
	}
	var failed int64
	for _, r := range runs {
		if r.recipe {
			failed += r.failed
		}
	}
	fmt.Printf("| figure | goal | %s |\n", cells(func(r rolloutRun) string { return r.name }))
	fmt.Printf("| --- | --- |%s\n", strings.Repeat(" ---: |", len(runs)))
	fmt.Printf("| requests/s during the rollout | — | %s |\n", cells(func(r rolloutRun) string { return fmt.Sprintf("%.0f", r.rate) }))
	fmt.Printf("| requests sent / failed | 0 failed with the recipe: %s | %s |\n", benchkit.Met(failed == 0),
		cells(func(r rolloutRun) string { return fmt.Sprintf("%d / %d", r.requests, r.failed) }))
	fmt.Printf("| rollout (image changed -> all new pods ready, old ones gone) | — | %s |\n",
		cells(func(r rolloutRun) string { return r.took.Round(100 * time.Millisecond).String() }))
	fmt.Println()
	for _, r := range runs {
		if r.errors != "" {
			fmt.Printf("wrk (%s, to %s): %s\n", r.name, r.image, r.errors)
		}
	}
}
