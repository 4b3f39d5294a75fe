package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/cmd/internal/benchkit"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const benchNamespace = "scale"

// result is what one burst measured. Durations count from the
// Deployment's creation.
type result struct {
	cpus           int
	registerNodes  time.Duration // hollow process start -> every node Ready
	allCreated     time.Duration
	allBound       time.Duration
	allRunning     time.Duration
	firstBound     time.Duration
	getLatencies   []time.Duration // sorted
	getErrors      int
	masterPeakRSS  int64
	masterRSSAfter int64
	deleteAll      time.Duration // delete the Deployment -> no pod left
	deleteErr      error
	writes         uint64        // Raft entries from the Deployment's creation to every pod Running
	masterCPU      time.Duration // CPU time the master used in that time
	hollowCPU      time.Duration // and the hollow nodes
	nodesOnTmpfs   bool
}

// podTimes is when the bench first saw a pod in each state.
type podTimes struct{ created, bound, running time.Time }

func run(ctx context.Context, cfg config) (*result, error) {
	if _, err := os.Stat(cfg.skiff); err != nil {
		return nil, fmt.Errorf("%w (make build)", err)
	}
	bin, _ := filepath.Abs(cfg.skiff)
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "skiff-scalebench-")
	if err != nil {
		return nil, err
	}
	// The hollow nodes' data directories (each pod's hosts, resolv.conf
	// and sandbox files) go to memory when the machine has a tmpfs: real
	// nodes each write to a disk of their own, while here a thousand
	// would share the master's, and creating 50,000 small files on it
	// took a third of the hollow nodes' CPU. The master's data stays on
	// disk.
	nodesRoot, err := os.MkdirTemp(hollowFS(), "skiff-scalebench-nodes-")
	if err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	var procs []*benchkit.Proc
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].Stop()
		}
		if cfg.keep {
			benchkit.Progress("kept %s and %s", root, nodesRoot)
		} else {
			os.RemoveAll(root)
			os.RemoveAll(nodesRoot)
		}
	}()
	res := &result{cpus: benchkit.CPUs(), nodesOnTmpfs: hollowFS() != ""}

	api := benchkit.FreeAddr()
	mdir := filepath.Join(root, "master")
	// A /12 holds 4,096 node pod CIDRs (/24 each).
	args := []string{"server", "--init", "--no-agent",
		"--data-dir", mdir, "--api-addr", api, "--raft-addr", benchkit.FreeAddr(), "--cluster-cidr", "10.64.0.0/12"}
	if cfg.debugAddr != "" {
		args = append(args, "--debug-addr", cfg.debugAddr)
	}
	master, err := benchkit.Start(filepath.Join(root, "master.log"), nil, bin, args...)
	if err != nil {
		return nil, err
	}
	procs = append(procs, master)
	if err := benchkit.WaitReady(ctx, api); err != nil {
		return nil, fmt.Errorf("master: %w (see %s)", err, filepath.Join(root, "master.log"))
	}
	token, err := os.ReadFile(filepath.Join(mdir, "worker-token"))
	if err != nil {
		return nil, err
	}
	ccfg, err := client.LoadConfig(filepath.Join(mdir, "admin.conf"))
	if err != nil {
		return nil, err
	}
	c, err := client.New(ccfg, client.Options{})
	if err != nil {
		return nil, err
	}
	nodesRes, _ := c.Registry().ByKind("Node")
	podsRes, _ := c.Registry().ByKind("Pod")
	deployRes, _ := c.Registry().ByKind("Deployment")

	ndir := filepath.Join(nodesRoot, "nodes")
	if err := os.MkdirAll(ndir, 0o755); err != nil {
		return nil, err
	}
	benchkit.Progress("starting %d hollow nodes", cfg.nodes)
	t0 := time.Now()
	hollow, err := benchkit.Start(filepath.Join(root, "hollow.log"), nil, self, "hollow", "-nodes", strconv.Itoa(cfg.nodes),
		"-join", api, "-token", strings.TrimSpace(string(token)), "-dir", ndir, "-usage-period", cfg.usagePeriod.String())
	if err != nil {
		return nil, err
	}
	procs = append(procs, hollow)
	if err := waitProgress(ctx, 10*time.Minute, hollow, "nodes Ready", cfg.nodes, func() (int, error) {
		l, err := c.List(ctx, nodesRes, client.ListOptions{})
		if err != nil {
			return 0, err
		}
		n := 0
		for _, o := range l.Items {
			if nodeReady(o.(*corev1.Node)) {
				n++
			}
		}
		return n, nil
	}); err != nil {
		return nil, fmt.Errorf("hollow nodes: %w (see %s)", err, filepath.Join(root, "hollow.log"))
	}
	res.registerNodes = time.Since(t0)

	if _, err := c.Create(ctx, &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	seen := map[string]*podTimes{}
	note := func(o apis.Object) {
		p := o.(*corev1.Pod)
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		t := seen[p.Name]
		if t == nil {
			t = &podTimes{created: now}
			seen[p.Name] = t
		}
		if t.bound.IsZero() && p.Spec.NodeName != "" {
			t.bound = now
		}
		if t.running.IsZero() && p.Status.Phase == corev1.PodRunning {
			t.running = now
		}
	}
	inf := client.NewInformer(c, podsRes, client.ListOptions{Namespace: benchNamespace}, slog.New(slog.DiscardHandler))
	inf.AddHandler(client.Handler{OnAdd: note, OnUpdate: func(_, o apis.Object) { note(o) }})
	ictx, stopInformer := context.WithCancel(ctx)
	defer stopInformer()
	go inf.Run(ictx)
	<-inf.Synced()
	count := func(pick func(*podTimes) time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, t := range seen {
			if !pick(t).IsZero() {
				n++
			}
		}
		return n
	}

	// The burst.
	benchkit.Progress("creating a Deployment of %d replicas", cfg.replicas)
	index0 := lastIndex(ctx, c)
	masterCPU0, hollowCPU0 := benchkit.CPUTime(master.PID()), benchkit.CPUTime(hollow.PID())
	start := time.Now()
	if _, err := c.Create(ctx, benchDeployment(cfg.replicas)); err != nil {
		return nil, err
	}
	pctx, stopProbes := context.WithCancel(ctx)
	probes := make(chan probeResult, 1)
	go func() { probes <- probeGets(pctx, c, deployRes) }()
	peak := make(chan int64, 1)
	go func() { peak <- samplePeakRSS(pctx, master.PID()) }()
	err = waitProgress(ctx, cfg.timeout, hollow, "pods Running", cfg.replicas, func() (int, error) {
		benchkit.Progress("  pods created %d, bound %d", count(func(t *podTimes) time.Time { return t.created }),
			count(func(t *podTimes) time.Time { return t.bound }))
		return count(func(t *podTimes) time.Time { return t.running }), nil
	})
	res.masterCPU = benchkit.CPUTime(master.PID()) - masterCPU0
	res.hollowCPU = benchkit.CPUTime(hollow.PID()) - hollowCPU0
	res.writes = lastIndex(ctx, c) - index0
	stopProbes()
	pr := <-probes
	res.masterPeakRSS = <-peak
	if err != nil {
		return nil, fmt.Errorf("the burst: %w (logs in %s; -keep keeps them)", err, root)
	}
	res.getLatencies, res.getErrors = pr.latencies, pr.errors
	mu.Lock()
	var first time.Time
	for _, t := range seen {
		res.allCreated = max(res.allCreated, t.created.Sub(start))
		res.allBound = max(res.allBound, t.bound.Sub(start))
		res.allRunning = max(res.allRunning, t.running.Sub(start))
		if first.IsZero() || t.bound.Before(first) {
			first = t.bound
		}
	}
	mu.Unlock()
	res.firstBound = first.Sub(start)
	res.masterRSSAfter, _ = benchkit.Memory(master.PID())

	// And back: the Deployment's deletion cascades to 10,000 pods, which
	// the nodes stop and report gone.
	benchkit.Progress("deleting the Deployment")
	start = time.Now()
	if _, err := c.Delete(ctx, deployRes, benchNamespace, "scale", nil); err != nil {
		res.deleteErr = err
		return res, nil
	}
	res.deleteErr = waitProgress(ctx, cfg.timeout, hollow, "pods gone", cfg.replicas, func() (int, error) {
		l, err := c.List(ctx, podsRes, client.ListOptions{Namespace: benchNamespace})
		if err != nil {
			return 0, err
		}
		return cfg.replicas - len(l.Items), nil
	})
	res.deleteAll = time.Since(start)
	return res, nil
}

// lastIndex is the master's last Raft index: the store's writes so far.
func lastIndex(ctx context.Context, c *client.Client) uint64 {
	ms, err := c.Members(ctx)
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[0].LastIndex
}

// waitProgress polls done() every 2 s, printing it, until it reaches want;
// it fails when limit passes or the hollow process ends.
func waitProgress(ctx context.Context, limit time.Duration, hollow *benchkit.Proc, what string, want int, done func() (int, error)) error {
	deadline := time.Now().Add(limit)
	for {
		n, err := done()
		if err == nil {
			benchkit.Progress("%s: %d/%d", what, n, want)
			if n >= want {
				return nil
			}
		} else {
			benchkit.Progress("%s: %v", what, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d of %d after %s", what, n, want, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-hollow.Done():
			return errors.New("the hollow nodes' process ended")
		case <-time.After(2 * time.Second):
		}
	}
}

type probeResult struct {
	latencies []time.Duration
	errors    int
}

// probeGets reads the Deployment every 20 ms until ctx ends, as a user
// watching the rollout would, and returns the latencies sorted.
func probeGets(ctx context.Context, c *client.Client, deployRes *resources.Resource) probeResult {
	var r probeResult
	for ctx.Err() == nil {
		t := time.Now()
		_, err := c.Get(ctx, deployRes, benchNamespace, "scale")
		switch {
		case err == nil:
			r.latencies = append(r.latencies, time.Since(t))
		case ctx.Err() == nil:
			r.errors++
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	slices.Sort(r.latencies)
	return r
}

// samplePeakRSS reads pid's resident memory every 250 ms until ctx ends.
func samplePeakRSS(ctx context.Context, pid int) int64 {
	var peak int64
	for {
		rss, _ := benchkit.Memory(pid)
		peak = max(peak, rss)
		select {
		case <-ctx.Done():
			return peak
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func benchDeployment(replicas int) *appsv1.Deployment {
	n := int32(replicas)
	labels := map[string]string{"app": "scale"}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: benchNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "skiff.local/echo:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("10m"),
						corev1.ResourceMemory: resource.MustParse("16Mi"),
					}},
				}}},
			},
		},
	}
}

// hollowFS returns /dev/shm when it is a tmpfs, else the temporary
// directory's filesystem.
func hollowFS() string {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err == nil && st.Type == tmpfsMagic {
		return "/dev/shm"
	}
	return ""
}

// tmpfsMagic is TMPFS_MAGIC from linux/magic.h.
const tmpfsMagic = 0x01021994
