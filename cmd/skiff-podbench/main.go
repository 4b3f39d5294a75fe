// Command skiff-podbench measures the node agent with real containers: how
// long a pod takes from its creation (bound to the node, image present) to
// Ready, at p50 and p99 over many pods, and how much memory the agent uses
// with them running. It starts one master and one `skiff agent` (with its
// own containerd) on loopback, and leaves nothing behind: processes, the
// bridge, directories.
//
//	go run ./cmd/skiff-podbench -skiff bin/skiff        (part of `make bench`)
//
// It needs root, containerd, runc, the CNI plugins and examples/images/echo.tar
// (make images). The table goes to stdout, progress to stderr.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/cmd/internal/benchkit"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type config struct {
	skiff, image, image2 string
	pods                 int
	rates                []float64
	keep                 bool
	wrkDuration          time.Duration
	rollReplicas         int
	hpa                  bool
}

func main() {
	cfg := config{}
	flag.StringVar(&cfg.skiff, "skiff", "bin/skiff", "skiff binary")
	flag.StringVar(&cfg.image, "image", "examples/images/echo.tar", "the echo image (make images)")
	flag.StringVar(&cfg.image2, "image2", "examples/images/echo-2.tar", "the echo image's second version, for the rolling update (make images)")
	flag.IntVar(&cfg.rollReplicas, "roll-replicas", 20, "replicas of the Deployment rolled under load (0: no rolling update)")
	flag.BoolVar(&cfg.hpa, "hpa", true, "time an autoscaler's reaction to load")
	flag.IntVar(&cfg.pods, "pods", 50, "pods to start on the node")
	var rates string
	flag.StringVar(&rates, "rates", "2,10", "comma-separated creation rates (pods/s), one round of -pods pods each")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the data directories and logs")
	flag.DurationVar(&cfg.wrkDuration, "wrk-duration", 5*time.Second, "each wrk run against the pod IP and the cluster IP")
	flag.Parse()
	for _, f := range strings.Split(rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "skiff-podbench: -rates %q: want positive numbers\n", rates)
			os.Exit(2)
		}
		cfg.rates = append(cfg.rates, v)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "skiff-podbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (containers and network namespaces)")
	}
	for _, f := range []string{cfg.skiff, cfg.image, cfg.image2} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%w (make build images)", err)
		}
	}
	bin, _ := filepath.Abs(cfg.skiff)
	root, err := os.MkdirTemp("", "skiff-podbench-")
	if err != nil {
		return err
	}
	b := make([]byte, 3)
	rand.Read(b)
	bridge := "skb" + hex.EncodeToString(b)
	node := "bench-" + hex.EncodeToString(b)
	var procs []*benchkit.Proc
	// The bridge plugin turns ip_forward on; put it back when done.
	forward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	sinkBefore := exec.Command("ip", "link", "show", "skiff-svc").Run() == nil
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].Stop()
		}
		exec.Command("ip", "link", "del", bridge).Run()
		exec.Command("nft", "delete", "table", "ip", "skb-proxy-"+hex.EncodeToString(b)).Run()
		if !sinkBefore {
			exec.Command("ip", "link", "del", "skiff-svc").Run()
		}
		os.RemoveAll(filepath.Join("/run/skiff/netns", node))
		removeCgroups("skiff-" + node)
		if out, _ := exec.Command("ip", "-br", "link", "show", "type", "bridge").Output(); len(forward) > 0 && strings.TrimSpace(string(out)) == "" {
			_ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", forward, 0o644)
		}
		if cfg.keep {
			benchkit.Progress("kept %s", root)
		} else {
			os.RemoveAll(root)
		}
	}()

	api := benchkit.FreeAddr()
	mdir := filepath.Join(root, "master")
	m, err := benchkit.Start(filepath.Join(root, "master.log"), nil, bin, "server", "--init", "--no-agent", "--data-dir", mdir,
		"--api-addr", api, "--raft-addr", benchkit.FreeAddr(), "--cluster-cidr", "10.45.0.0/16")
	if err != nil {
		return err
	}
	procs = append(procs, m)
	if err := benchkit.WaitReady(ctx, api); err != nil {
		return fmt.Errorf("master: %w", err)
	}
	token, err := os.ReadFile(filepath.Join(mdir, "worker-token"))
	if err != nil {
		return err
	}
	adir := filepath.Join(root, "agent")
	if err := os.MkdirAll(filepath.Join(adir, "images"), 0o755); err != nil {
		return err
	}
	for _, img := range []string{cfg.image, cfg.image2} {
		raw, err := os.ReadFile(img)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(adir, "images", filepath.Base(img)), raw, 0o644); err != nil {
			return err
		}
	}
	// The agent's service proxy in a table of its own, its DNS on an
	// address of its own forwarding to a loopback port where nothing
	// listens: all removed at the end.
	proxyTable := "skb-proxy-" + hex.EncodeToString(b)
	ag, err := benchkit.Start(filepath.Join(root, "agent.log"), []string{"SKIFF_BRIDGE=" + bridge, "SKIFF_PROXY_TABLE=" + proxyTable},
		bin, "agent", "--join", api, "--token", strings.TrimSpace(string(token)), "--data-dir", adir, "--node-name", node,
		"--agent-addr", benchkit.FreeAddr(), "--cluster-dns", "169.254.20.250", "--dns-upstream", "127.0.0.1:9")
	if err != nil {
		return err
	}
	procs = append(procs, ag)

	ccfg, err := client.LoadConfig(filepath.Join(mdir, "admin.conf"))
	if err != nil {
		return err
	}
	c, err := client.New(ccfg, client.Options{})
	if err != nil {
		return err
	}
	podsRes, _ := c.Registry().ByKind("Pod")
	benchkit.Progress("waiting for node %s and its images", node)
	if err := benchkit.WaitFor(ctx, 60*time.Second, func() bool {
		log, _ := os.ReadFile(filepath.Join(root, "agent.log"))
		return strings.Count(string(log), "image imported") >= 2 && strings.Contains(string(log), "ready (pod CIDR")
	}); err != nil {
		return fmt.Errorf("agent did not come up (see %s): %w", filepath.Join(root, "agent.log"), err)
	}

	// Readiness is watched, not polled: the time a pod is first seen Ready.
	var mu sync.Mutex
	readyAt := map[string]time.Time{}
	w, err := c.Watch(ctx, podsRes, client.ListOptions{Namespace: "default"})
	if err != nil {
		return err
	}
	defer w.Stop()
	go func() {
		for ev := range w.Events() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || !podReady(p) {
				continue
			}
			mu.Lock()
			if _, seen := readyAt[p.Name]; !seen {
				readyAt[p.Name] = time.Now()
			}
			mu.Unlock()
		}
	}()

	// One pod first: the bridge and the first snapshot are made once.
	warm := benchPod("warmup", node)
	warm.Labels["bench.skiff.io/warmup"] = "true"
	if _, err := c.Create(ctx, warm); err != nil {
		return err
	}
	if err := benchkit.WaitFor(ctx, 60*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return !readyAt["warmup"].IsZero() }); err != nil {
		return fmt.Errorf("the warm-up pod never became ready: %w", err)
	}
	vip, err := measureVIP(ctx, c, cfg.wrkDuration)
	if err != nil {
		return err
	}
	var results []*roundResult
	for _, rate := range cfg.rates {
		r, err := runRound(ctx, c, podsRes, cfg.pods, rate, node, adir, ag.PID(), &mu, readyAt)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	var rolls []rolloutRun
	if cfg.rollReplicas > 0 {
		if rolls, err = measureRollout(ctx, c, cfg.rollReplicas); err != nil {
			return err
		}
	}
	var hpa *hpaRun
	if cfg.hpa {
		if hpa, err = measureHPA(ctx, c); err != nil {
			return err
		}
	}
	// The warm-up pod goes too, before the agent stops: nothing may stay.
	if _, err := c.Delete(ctx, podsRes, "default", "warmup", nil); err != nil {
		return err
	}
	if err := benchkit.WaitFor(ctx, 60*time.Second, func() bool {
		l, err := c.List(ctx, podsRes, client.ListOptions{Namespace: "default"})
		return err == nil && len(l.Items) == 0
	}); err != nil {
		return fmt.Errorf("the warm-up pod is not gone: %w", err)
	}

	fmt.Printf("\nskiff agent, real containers: %d pods on one node per round, image present, no probes (%d CPUs)\n\n", cfg.pods, benchkit.CPUs())
	row := func(figure, goal string, cell func(r *roundResult) string, comparison string) {
		fmt.Printf("%-44s %-10s", figure, goal)
		for _, r := range results {
			fmt.Printf(" %-16s", cell(r))
		}
		fmt.Printf(" %s\n", comparison)
	}
	fmt.Printf("%-44s %-10s", "figure", "goal")
	for _, r := range results {
		fmt.Printf(" %-16s", fmt.Sprintf("skiff @%g pods/s", r.rate))
	}
	fmt.Printf(" comparison\n")
	row("pod startup, create -> Ready, p50", "", func(r *roundResult) string { return benchkit.Ms(r.p(50)) }, "")
	row("pod startup, create -> Ready, p99", "< 1 s", func(r *roundResult) string { return benchkit.Ms(r.p(99)) + " " + benchkit.Met(r.p(99) < time.Second) }, "Kubernetes SLO: 5 s")
	row("pod startup, create -> Ready, max", "", func(r *roundResult) string { return benchkit.Ms(r.lat[len(r.lat)-1]) }, "")
	row(fmt.Sprintf("agent RSS with %d pods running", cfg.pods), "< 60 MiB", func(r *roundResult) string { return benchkit.MiB(r.rss) + " " + benchkit.Met(r.rss < 60<<20) }, "")
	row("per pod outside the agent: containerd shim", "", func(r *roundResult) string { return benchkit.MiB(r.shims) }, "PSS, as every runtime has")
	row("per pod outside the agent: log writer", "", func(r *roundResult) string { return benchkit.MiB(r.loggers) }, "PSS of `skiff container-logger`")
	row(fmt.Sprintf("delete the %d pods (grace 5 s) -> all gone", cfg.pods), "", func(r *roundResult) string { return r.teardown.Truncate(time.Millisecond).String() }, "")
	fmt.Println()
	if vip != nil {
		fmt.Printf("through a Service (wrk -t2 -c%d for %s each, %d runs per target taken in turns, medians; from the host to one echo pod; the agent's nftables proxy):\n\n", wrkConns, cfg.wrkDuration, vipRounds)
		fmt.Println("| figure | goal | via the cluster IP | straight to the pod IP | VIP/pod |")
		fmt.Println("| --- | --- | ---: | ---: | ---: |")
		ratio := vip.viaVIP / vip.direct
		fmt.Printf("| requests/s | VIP >= 90%% of pod: %s | %.0f | %.0f | %.2f |\n", benchkit.Met(ratio >= 0.9), vip.viaVIP, vip.direct, ratio)
		fmt.Printf("| latency p50 | — | %s | %s | — |\n\n", vip.vipP50, vip.directP50)
	}
	if len(rolls) > 0 {
		printRollouts(cfg.rollReplicas, rolls)
	}
	if hpa != nil {
		printHPA(hpa)
	}
	return nil
}

const wrkConns = 16

type vipResult struct {
	viaVIP, direct    float64
	vipP50, directP50 string
}

// measureVIP puts a Service in front of the warm-up pod and runs wrk at the
// pod's IP and at the cluster IP, alternately, three times each (medians
// compared).
func measureVIP(ctx context.Context, c *client.Client, d time.Duration) (*vipResult, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		benchkit.Progress("wrk missing (make deps): no VIP figure")
		return nil, nil
	}
	podsRes, _ := c.Registry().ByKind("Pod")
	obj, err := c.Get(ctx, podsRes, "default", "warmup")
	if err != nil {
		return nil, err
	}
	podIP := obj.(*corev1.Pod).Status.PodIP
	svc, err := c.Create(ctx, &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "warmup", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "bench", "bench.skiff.io/warmup": "true"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}})
	if err != nil {
		return nil, err
	}
	svcRes, _ := c.Registry().ByKind("Service")
	defer c.Delete(context.Background(), svcRes, "default", "warmup", nil)
	vip := "http://" + svc.(*corev1.Service).Spec.ClusterIP + "/"
	benchkit.Progress("waiting for the cluster IP %s to answer", vip)
	hc := &http.Client{Timeout: time.Second}
	if err := benchkit.WaitFor(ctx, 30*time.Second, func() bool {
		resp, err := hc.Get(vip)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}); err != nil {
		return nil, fmt.Errorf("the cluster IP never answered: %w", err)
	}
	r := &vipResult{}
	// Alternately, three times each; the medians are compared: on a
	// shared machine one run of either can be off by 20%.
	type run struct {
		rate float64
		p50  string
	}
	var direct, viaVIP []run
	for i := range vipRounds {
		for _, target := range []struct {
			url  string
			runs *[]run
		}{{"http://" + podIP + ":8080/", &direct}, {vip, &viaVIP}} {
			benchkit.Progress("wrk %s (%d/%d)", target.url, i+1, vipRounds)
			rate, p50, err := wrk(ctx, target.url, d)
			if err != nil {
				return nil, err
			}
			*target.runs = append(*target.runs, run{rate, p50})
		}
	}
	median := func(runs []run) run {
		slices.SortFunc(runs, func(a, b run) int { return cmp.Compare(a.rate, b.rate) })
		return runs[len(runs)/2]
	}
	md, mv := median(direct), median(viaVIP)
	r.direct, r.directP50, r.viaVIP, r.vipP50 = md.rate, md.p50, mv.rate, mv.p50
	return r, nil
}

// vipRounds is how many wrk runs measureVIP makes against each target.
const vipRounds = 3

var (
	wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP50  = regexp.MustCompile(`(?m)^\s+50%\s+(\S+)`)
)

func wrk(ctx context.Context, url string, d time.Duration) (float64, string, error) {
	out, err := exec.CommandContext(ctx, "wrk", "-t2", fmt.Sprintf("-c%d", wrkConns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency", url).CombinedOutput()
	if err != nil {
		return 0, "", fmt.Errorf("wrk %s: %v: %s", url, err, out)
	}
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return 0, "", fmt.Errorf("wrk %s: no Requests/sec in:\n%s", url, out)
	}
	rate, _ := strconv.ParseFloat(string(m[1]), 64)
	p50 := "?"
	if m := wrkP50.FindSubmatch(out); m != nil {
		p50 = string(m[1])
	}
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		return 0, "", fmt.Errorf("wrk %s saw errors:\n%s", url, out)
	}
	return rate, p50, nil
}

// roundResult is one round: cfg.pods pods created at one rate.
type roundResult struct {
	rate           float64
	lat            []time.Duration // sorted
	rss            int64
	shims, loggers int64 // per pod
	teardown       time.Duration
}

func (r *roundResult) p(q int) time.Duration { return r.lat[min(len(r.lat)-1, len(r.lat)*q/100)] }

// runRound creates n pods at rate, waits until all are Ready, reads the
// agent's memory, then deletes them and waits until they are gone.
func runRound(ctx context.Context, c *client.Client, podsRes *resources.Resource, n int, rate float64, node, adir string, agentPID int,
	mu *sync.Mutex, readyAt map[string]time.Time) (*roundResult, error) {
	benchkit.Progress("creating %d pods at %g/s", n, rate)
	prefix := fmt.Sprintf("r%g-", rate)
	created := map[string]time.Time{}
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%spod-%03d", strings.ReplaceAll(prefix, ".", "-"), i)
		created[name] = time.Now()
		if _, err := c.Create(ctx, benchPod(name, node)); err != nil {
			return nil, err
		}
		time.Sleep(interval)
	}
	if err := benchkit.WaitFor(ctx, 120*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for name := range created {
			if readyAt[name].IsZero() {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, fmt.Errorf("not every pod became ready at %g/s: %w", rate, err)
	}
	r := &roundResult{rate: rate}
	mu.Lock()
	for name, t0 := range created {
		r.lat = append(r.lat, readyAt[name].Sub(t0))
	}
	mu.Unlock()
	slices.Sort(r.lat)
	time.Sleep(2 * time.Second) // let the agent settle before reading its memory
	r.rss, _ = benchkit.Memory(agentPID)
	shims, loggers := perPodProcesses(node, adir)
	pods := int64(n + 1) // and the warm-up pod
	r.shims, r.loggers = shims/pods, loggers/pods

	benchkit.Progress("deleting the pods")
	t0 := time.Now()
	grace := int64(5)
	for name := range created {
		if _, err := c.DeleteWithOptions(ctx, podsRes, "default", name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
			return nil, err
		}
	}
	if err := benchkit.WaitFor(ctx, 120*time.Second, func() bool {
		l, err := c.List(ctx, podsRes, client.ListOptions{Namespace: "default"})
		return err == nil && len(l.Items) == 1 // the warm-up pod stays
	}); err != nil {
		return nil, fmt.Errorf("pods not gone: %w", err)
	}
	r.teardown = time.Since(t0)
	return r, nil
}

// perPodProcesses sums the proportional memory (PSS) of the node's
// containerd shims and container log writers.
func perPodProcesses(node, agentDir string) (shims, loggers int64) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.ReplaceAll(string(cmdline), "\x00", " ")
		var into *int64
		switch {
		case strings.Contains(args, "containerd-shim") && strings.Contains(args, "skiff-"+node+" "):
			into = &shims
		case strings.Contains(args, "container-logger") && strings.Contains(args, agentDir):
			into = &loggers
		default:
			continue
		}
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		for _, l := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "Pss:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				*into += kb << 10
			}
		}
	}
	return shims, loggers
}

func benchPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "echo", Image: "skiff.local/echo:1",
			Resources: corev1.ResourceRequirements{},
		}}},
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// removeCgroups removes the empty cgroups containerd made for a namespace.
func removeCgroups(namespace string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", namespace))
	for _, d := range dirs {
		var all []string
		filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			_ = syscall.Rmdir(all[i])
		}
	}
}
