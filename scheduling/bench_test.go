package scheduling

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// burstCluster is a minimal store for the burst benchmark: a fixed node
// list and pod list, a binder that "commits" at once and delivers the
// watch event back like the daemon's watch would.
type burstCluster struct {
	nodes []*corev1.Node
	pods  []*corev1.Pod
	sched *Scheduler
	bound atomic.Int64
	all   chan struct{} // closed when want pods are bound
	want  int64

	mu        sync.Mutex
	placement map[types.UID]string
}

func (c *burstCluster) ListNodes() ([]*corev1.Node, error) { return c.nodes, nil }
func (c *burstCluster) ListPods() ([]*corev1.Pod, error)   { return c.pods, nil }

func (c *burstCluster) Bind(_ context.Context, pod *corev1.Pod, node string) error {
	b := *pod
	b.Spec.NodeName = node
	b.ResourceVersion = "2"
	c.mu.Lock()
	c.placement[pod.UID] = node
	c.mu.Unlock()
	c.sched.OnPodUpdate(pod, &b)
	if c.bound.Add(1) == c.want {
		close(c.all)
	}
	return nil
}

func (c *burstCluster) PodUnschedulable(_ context.Context, pod *corev1.Pod, fitErr *FitError) error {
	return fmt.Errorf("pod %s unschedulable in the burst: %v", pod.Name, fitErr)
}

// newBurst builds nodes nodes in three zones and pods pods of 100-replica
// ReplicaSets, every pod requesting 100m and 128Mi.
func newBurst(nodes, pods int) *burstCluster {
	c := &burstCluster{want: int64(pods), all: make(chan struct{}), placement: make(map[types.UID]string, pods)}
	for i := range nodes {
		c.nodes = append(c.nodes, makeNode(fmt.Sprintf("node-%04d", i), "32", "128Gi", 110,
			nodeLabels(LabelZone, fmt.Sprintf("zone-%d", i%3))))
	}
	for i := range pods {
		c.pods = append(c.pods, makePod(fmt.Sprintf("web-%05d", i), ownedBy(fmt.Sprintf("rs-%03d", i/100)),
			podLabels("app", fmt.Sprintf("web-%03d", i/100)), requests("100m", "128Mi")))
	}
	return c
}

// runBurst schedules every pod of c and returns how long it took.
func runBurst(tb testing.TB, c *burstCluster) time.Duration {
	sched, err := New(Config{Lister: c, Binder: c, Recorder: c, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	c.sched = sched
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- sched.Run(ctx) }()
	select {
	case <-c.all:
	case <-time.After(5 * time.Minute):
		tb.Fatalf("burst not done: %+v", sched.Stats())
	}
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	if s := sched.Stats(); s.Unschedulable != 0 || s.BindErrors != 0 || s.Bound != c.want {
		tb.Fatalf("stats %+v", s)
	}
	return elapsed
}

func BenchmarkSchedule1000Nodes10000Pods(b *testing.B) {
	var total time.Duration
	for range b.N {
		b.StopTimer()
		c := newBurst(1000, 10000)
		b.StartTimer()
		total += runBurst(b, c)
	}
	b.ReportMetric(float64(10000*b.N)/total.Seconds(), "pods/s")
}

// TestBurstSpreads schedules a burst and checks the outcome: every pod
// bound, each node within a few pods of the mean (LeastAllocated scores in
// whole percents, so a few 100m pods on a 32-core node do not move it), each
// ReplicaSet's 100
// replicas on 100 distinct nodes, zones balanced.
func TestBurstSpreads(t *testing.T) {
	if testing.Short() {
		t.Skip("burst in -short mode")
	}
	nodes, pods := 200, 2000
	c := newBurst(nodes, pods)
	elapsed := runBurst(t, c)
	t.Logf("%d pods on %d nodes in %v (%.0f pods/s)", pods, nodes, elapsed, float64(pods)/elapsed.Seconds())

	perNode := map[string]int{}
	perRS := map[string]map[string]bool{}
	perZone := map[string]int{}
	for _, p := range c.pods {
		node := c.placement[p.UID]
		perNode[node]++
		rs := string(p.OwnerReferences[0].UID)
		if perRS[rs] == nil {
			perRS[rs] = map[string]bool{}
		}
		perRS[rs][node] = true
	}
	for _, n := range c.nodes {
		perZone[n.Labels[LabelZone]] += perNode[n.Name]
		if got := perNode[n.Name]; got < pods/nodes-3 || got > pods/nodes+3 {
			t.Errorf("%s holds %d pods, want %d±3", n.Name, got, pods/nodes)
		}
	}
	for rs, ns := range perRS {
		if len(ns) != 100 {
			t.Errorf("%s on %d distinct nodes, want 100", rs, len(ns))
		}
	}
	for z, n := range perZone {
		if n < pods/3-50 || n > pods/3+50 {
			t.Errorf("zone %s holds %d pods: %v", z, n, perZone)
		}
	}
}
