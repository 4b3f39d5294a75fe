package scheduling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

var errConflict = errors.New("conflict: resourceVersion differs")

// fakeCluster is the store seen by a scheduler: its Lister, its Binder
// (which checks the resourceVersion and then delivers the watch event back
// to the scheduler, as the daemon's watch would) and its Recorder.
type fakeCluster struct {
	mu      sync.Mutex
	nodes   map[string]*corev1.Node
	pods    map[types.UID]*corev1.Pod
	rv      int
	unsched map[string]string // pod name -> last FitError message
	sched   *Scheduler
	// bindHook, when set, runs before a bind and may fail it.
	bindHook func(ctx context.Context, pod *corev1.Pod, node string) error
	binds    int
	// silent drops the watch events of bindings (a lost event).
	silent bool
}

func newFakeCluster(nodes []*corev1.Node, pods []*corev1.Pod) *fakeCluster {
	c := &fakeCluster{nodes: map[string]*corev1.Node{}, pods: map[types.UID]*corev1.Pod{}, unsched: map[string]string{}}
	for _, n := range nodes {
		c.nodes[n.Name] = n
	}
	for _, p := range pods {
		c.pods[p.UID] = p
	}
	return c
}

func (c *fakeCluster) ListNodes() ([]*corev1.Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*corev1.Node
	for _, n := range c.nodes {
		out = append(out, n)
	}
	return out, nil
}

func (c *fakeCluster) ListPods() ([]*corev1.Pod, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*corev1.Pod
	for _, p := range c.pods {
		out = append(out, p)
	}
	return out, nil
}

func (c *fakeCluster) Bind(ctx context.Context, pod *corev1.Pod, node string) error {
	if c.bindHook != nil {
		if err := c.bindHook(ctx, pod, node); err != nil {
			return err
		}
	}
	c.mu.Lock()
	old, ok := c.pods[pod.UID]
	if !ok {
		c.mu.Unlock()
		return fmt.Errorf("pod %s not found", pod.Name)
	}
	if old.ResourceVersion != pod.ResourceVersion {
		c.mu.Unlock()
		return errConflict
	}
	bound := old.DeepCopy()
	bound.Spec.NodeName = node
	c.rv++
	bound.ResourceVersion = "b" + strconv.Itoa(c.rv)
	c.pods[pod.UID] = bound
	c.binds++
	silent := c.silent
	c.mu.Unlock()
	if !silent {
		c.sched.OnPodUpdate(old, bound)
	}
	return nil
}

func (c *fakeCluster) PodUnschedulable(_ context.Context, pod *corev1.Pod, fitErr *FitError) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unsched[pod.Name] = fitErr.Error()
	return nil
}

// Changes made by "users", delivered to the scheduler as events.

func (c *fakeCluster) createPod(p *corev1.Pod) {
	c.mu.Lock()
	c.pods[p.UID] = p
	c.mu.Unlock()
	c.sched.OnPodAdd(p)
}

func (c *fakeCluster) updatePod(p *corev1.Pod) {
	c.mu.Lock()
	old := c.pods[p.UID]
	c.rv++
	p.ResourceVersion = "u" + strconv.Itoa(c.rv)
	c.pods[p.UID] = p
	c.mu.Unlock()
	c.sched.OnPodUpdate(old, p)
}

func (c *fakeCluster) deletePod(uid types.UID) {
	c.mu.Lock()
	p := c.pods[uid]
	delete(c.pods, uid)
	c.mu.Unlock()
	c.sched.OnPodDelete(p)
}

func (c *fakeCluster) addNode(n *corev1.Node) {
	c.mu.Lock()
	c.nodes[n.Name] = n
	c.mu.Unlock()
	c.sched.OnNodeAdd(n)
}

func (c *fakeCluster) deleteNode(name string) {
	c.mu.Lock()
	n := c.nodes[name]
	delete(c.nodes, name)
	c.mu.Unlock()
	c.sched.OnNodeDelete(n)
}

func (c *fakeCluster) pod(name string) *corev1.Pod {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pods[types.UID(name)].DeepCopy()
}

func (c *fakeCluster) placement() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	for _, p := range c.pods {
		out[p.Name] = p.Spec.NodeName
	}
	return out
}

func (c *fakeCluster) unschedMessage(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unsched[name]
}

// harness runs a scheduler over a fake cluster with a fake clock.
type harness struct {
	t       *testing.T
	cluster *fakeCluster
	sched   *Scheduler
	clock   *clocktesting.FakeClock
	cancel  context.CancelFunc
	done    chan error
}

func startHarness(t *testing.T, nodes []*corev1.Node, pods []*corev1.Pod) *harness {
	t.Helper()
	h := &harness{t: t, cluster: newFakeCluster(nodes, pods), clock: clocktesting.NewFakeClock(testEpoch), done: make(chan error, 1)}
	sched, err := New(Config{Lister: h.cluster, Binder: h.cluster, Recorder: h.cluster, Clock: h.clock,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h.sched, h.cluster.sched = sched, sched
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- sched.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
		h.done <- nil // let stop be called twice
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return after its context ended")
	}
}

// eventually polls cond; with step it also advances the fake clock by a
// second per poll so that backoffs and flushes run.
func (h *harness) eventually(what string, step bool, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; stats %+v", what, h.sched.Stats())
		}
		if step {
			h.clock.Step(time.Second)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// settle waits until the queue holds nothing active or in flight.
func (h *harness) settle() {
	h.t.Helper()
	h.eventually("the queue to settle", false, func() bool {
		s := h.sched.Stats().Queue
		return s.Active == 0 && s.InFlight == 0
	})
}

func TestSchedulerHarness(t *testing.T) {
	db := nodeTaint("dedicated", "db", corev1.TaintEffectNoSchedule)
	nodes := []*corev1.Node{
		makeNode("n1", "4", "8Gi", 110, nodeLabels(LabelZone, "a", "disk", "ssd")),
		makeNode("n2", "4", "8Gi", 110, nodeLabels(LabelZone, "b")),
		makeNode("n3", "4", "8Gi", 110, nodeLabels(LabelZone, "b", "role", "db"), db),
	}
	var pods []*corev1.Pod
	for i := range 12 {
		pods = append(pods, makePod(fmt.Sprintf("web-%d", i), ownedBy("web"), requests("100m", "128Mi")))
	}
	for i := range 4 {
		pods = append(pods, makePod(fmt.Sprintf("db-%d", i), ownedBy("db"), requests("500m", "1Gi"),
			nodeSelector("role", "db"),
			tolerations(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db"})))
	}
	for i := range 3 {
		pods = append(pods, makePod(fmt.Sprintf("cache-%d", i), requests("200m", "256Mi"), nodeSelector("disk", "ssd")))
	}
	pods = append(pods, makePod("huge", requests("1", "16Gi")))
	// Not ours, already bound, finished: all left alone.
	pods = append(pods,
		makePod("other-scheduler", func(p *corev1.Pod) { p.Spec.SchedulerName = "custom" }),
		makePod("running", requests("1", "1Gi"), boundTo("n2")),
		makePod("finished", requests("4", "8Gi"), boundTo("n1"), func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
	)

	h := startHarness(t, nodes, pods)
	h.eventually("20 pods handled", false, func() bool {
		return h.cluster.unschedMessage("huge") != "" && h.sched.Stats().Bound == 19
	})
	h.settle()

	placed := h.cluster.placement()
	perNode := map[string]int{}
	for i := range 12 {
		n := placed[fmt.Sprintf("web-%d", i)]
		if n != "n1" && n != "n2" {
			t.Errorf("web-%d on %q, want n1 or n2 (n3 is tainted)", i, n)
		}
		perNode[n]++
	}
	if perNode["n1"] != 6 || perNode["n2"] != 6 {
		t.Errorf("web not spread evenly: %v", perNode)
	}
	for i := range 4 {
		if n := placed[fmt.Sprintf("db-%d", i)]; n != "n3" {
			t.Errorf("db-%d on %q, want n3", i, n)
		}
	}
	for i := range 3 {
		if n := placed[fmt.Sprintf("cache-%d", i)]; n != "n1" {
			t.Errorf("cache-%d on %q, want n1", i, n)
		}
	}
	for _, name := range []string{"huge", "other-scheduler"} {
		if placed[name] != "" {
			t.Errorf("%s bound to %s", name, placed[name])
		}
	}
	const want = "0/3 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {dedicated: db}."
	if got := h.cluster.unschedMessage("huge"); got != want {
		t.Errorf("huge: got  %q\nwant %q", got, want)
	}
	if s := h.sched.Stats(); s.Queue.Unschedulable != 1 || s.BindErrors != 0 {
		t.Errorf("stats %+v", s)
	}

	// A node heartbeat does not retry it; a big node does, and it lands there.
	n2 := nodes[1].DeepCopy()
	n2.Status.Conditions[0].LastHeartbeatTime.Time = testEpoch.Add(time.Minute)
	h.sched.OnNodeUpdate(nodes[1], n2)
	if s := h.sched.Stats().Queue; s.Unschedulable != 1 {
		t.Errorf("heartbeat moved the pod: %+v", s)
	}
	h.cluster.addNode(makeNode("big", "8", "32Gi", 110))
	h.eventually("huge bound to big", true, func() bool { return h.cluster.placement()["huge"] == "big" })
}

func TestSchedulerBindFailureRequeues(t *testing.T) {
	nodes := []*corev1.Node{makeNode("n1", "2", "2Gi", 110), makeNode("n2", "2", "2Gi", 110)}
	h := startHarness(t, nodes, nil)
	var once sync.Once
	failed := make(chan struct{})
	h.cluster.bindHook = func(_ context.Context, pod *corev1.Pod, _ string) error {
		var err error
		once.Do(func() { err = errConflict; close(failed) })
		return err
	}
	h.cluster.createPod(makePod("p", requests("2", "")))
	<-failed
	h.eventually("p bound after its backoff", true, func() bool { return h.cluster.placement()["p"] != "" })
	h.settle()
	s := h.sched.Stats()
	if s.BindErrors != 1 || s.Bound != 1 {
		t.Errorf("stats %+v", s)
	}
	// The failed assumption was forgotten: one node is still wholly free.
	h.cluster.createPod(makePod("q", requests("2", "")))
	h.eventually("q bound", false, func() bool { return h.cluster.placement()["q"] != "" })
	if pl := h.cluster.placement(); pl["p"] == pl["q"] {
		t.Errorf("p and q on the same node: %v", pl)
	}
}

func TestSchedulerConflictUsesNewestPod(t *testing.T) {
	h := startHarness(t, []*corev1.Node{makeNode("n1", "2", "2Gi", 110)}, nil)
	release := make(chan struct{})
	h.cluster.bindHook = func(ctx context.Context, pod *corev1.Pod, _ string) error {
		if pod.ResourceVersion == "1" {
			<-release // the pod is updated meanwhile
		}
		return nil
	}
	h.cluster.createPod(makePod("p"))
	h.eventually("p in flight", false, func() bool { return h.sched.Stats().Assumed == 1 })
	upd := h.cluster.pod("p")
	upd.Labels = map[string]string{"changed": "yes"}
	h.cluster.updatePod(upd) // bumps the resourceVersion: the pending bind will conflict
	close(release)
	h.eventually("p bound with the new version", true, func() bool { return h.cluster.placement()["p"] == "n1" })
	if s := h.sched.Stats(); s.BindErrors != 1 {
		t.Errorf("stats %+v", s)
	}
	if p := h.cluster.pod("p"); p.Labels["changed"] != "yes" {
		t.Errorf("bound an old version: %v", p.Labels)
	}
}

func TestSchedulerPodDeleteFreesRoom(t *testing.T) {
	h := startHarness(t, []*corev1.Node{makeNode("n1", "1", "1Gi", 110)},
		[]*corev1.Pod{makePod("old", requests("1", ""), boundTo("n1"))})
	h.cluster.createPod(makePod("new", requests("1", "")))
	h.eventually("new unschedulable", false, func() bool { return h.cluster.unschedMessage("new") != "" })
	if got := h.cluster.unschedMessage("new"); got != "0/1 nodes are available: 1 Insufficient cpu." {
		t.Errorf("message %q", got)
	}
	h.cluster.deletePod("old")
	h.eventually("new bound", true, func() bool { return h.cluster.placement()["new"] == "n1" })

	// A pod that finishes frees its room too.
	h.cluster.createPod(makePod("next", requests("1", "")))
	h.eventually("next unschedulable", false, func() bool { return h.cluster.unschedMessage("next") != "" })
	done := h.cluster.pod("new")
	done.Status.Phase = corev1.PodSucceeded
	h.cluster.updatePod(done)
	h.eventually("next bound", true, func() bool { return h.cluster.placement()["next"] == "n1" })
}

func TestSchedulerDeletedWhileBinding(t *testing.T) {
	h := startHarness(t, []*corev1.Node{makeNode("n1", "1", "1Gi", 110)}, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	h.cluster.bindHook = func(ctx context.Context, pod *corev1.Pod, _ string) error {
		if pod.Name == "p" {
			close(entered)
			<-release
		}
		return nil
	}
	h.cluster.createPod(makePod("p", requests("1", "")))
	<-entered
	h.cluster.deletePod("p") // the Bind then fails: not found
	close(release)
	h.eventually("the failed bind handled", false, func() bool { return h.sched.Stats().BindErrors == 1 })
	if _, ok := h.sched.NodeOf(makePod("p")); ok {
		t.Error("deleted pod still accounted")
	}
	h.cluster.createPod(makePod("q", requests("1", "")))
	h.eventually("q bound", true, func() bool { return h.cluster.placement()["q"] == "n1" })
	if q := h.sched.Stats().Queue; q != (QueueStats{}) {
		t.Errorf("queue not empty: %+v", q)
	}
}

func TestSchedulerNodeDelete(t *testing.T) {
	nodes := []*corev1.Node{makeNode("n1", "1", "1Gi", 110), makeNode("n2", "1", "1Gi", 110)}
	h := startHarness(t, nodes, nil)
	h.cluster.deleteNode("n2")
	h.cluster.createPod(makePod("a", requests("1", "")))
	h.cluster.createPod(makePod("b", requests("1", "")))
	h.eventually("a bound, b unschedulable", false, func() bool {
		return h.sched.Stats().Bound == 1 && h.sched.Stats().Queue.Unschedulable == 1
	})
	if pl := h.cluster.placement(); pl["a"]+pl["b"] != "n1" {
		t.Errorf("placement %v, want one pod on n1", pl)
	}
	h.cluster.addNode(nodes[1])
	h.eventually("b bound to n2 once it is back", true, func() bool {
		pl := h.cluster.placement()
		return pl["a"] != "" && pl["b"] != "" && pl["a"] != pl["b"]
	})
}

func TestSchedulerExpiresUnconfirmedAssumptions(t *testing.T) {
	h := startHarness(t, []*corev1.Node{makeNode("n1", "1", "1Gi", 110)}, nil)
	h.cluster.silent = true
	h.cluster.createPod(makePod("p", requests("1", "")))
	h.eventually("p bound", false, func() bool { return h.sched.Stats().Bound == 1 })
	h.cluster.createPod(makePod("q", requests("1", "")))
	h.eventually("q unschedulable while p is assumed", false, func() bool { return h.cluster.unschedMessage("q") != "" })
	if _, ok := h.sched.NodeOf(makePod("p")); !ok {
		t.Fatal("p not assumed")
	}
	// No event confirms p: after AssumeTTL its room is given back.
	h.eventually("q bound after p's assumption expired", true, func() bool { return h.sched.Stats().Bound == 2 })
}

func TestSchedulerStopsWithBindsInFlight(t *testing.T) {
	var nodes []*corev1.Node
	for i := range 3 {
		nodes = append(nodes, makeNode(fmt.Sprintf("n%d", i), "64", "64Gi", 110))
	}
	h := startHarness(t, nodes, nil)
	h.cluster.bindHook = func(ctx context.Context, _ *corev1.Pod, _ string) error {
		<-ctx.Done() // a Raft write that never commits
		return ctx.Err()
	}
	slots := DefaultConfig().Parallelism
	for i := range slots + 24 {
		h.cluster.createPod(makePod(fmt.Sprintf("p%d", i)))
	}
	// Every slot holds a bind in flight; the next pod is assumed and waits
	// for a slot.
	h.eventually("the write slots full", false, func() bool { return h.sched.Stats().Assumed == int64(slots+1) })
	time.Sleep(10 * time.Millisecond)
	h.stop()
	if s := h.sched.Stats(); s.Bound != 0 || s.Assumed != int64(slots+1) || s.BindErrors != int64(slots) {
		t.Errorf("stats %+v", s)
	}
	if err := h.sched.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run: %v", err)
	}
}

func TestSchedulerEventsBeforeRun(t *testing.T) {
	c := newFakeCluster(nil, nil)
	sched, err := New(Config{Lister: c, Binder: c, Recorder: c, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c.sched = sched
	c.addNode(makeNode("n1", "1", "1Gi", 110))
	c.createPod(makePod("p"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- sched.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for c.placement()["p"] != "n1" {
		if time.Now().After(deadline) {
			t.Fatal("p not bound")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestNewNeedsDependencies(t *testing.T) {
	c := newFakeCluster(nil, nil)
	for _, cfg := range []Config{{Binder: c, Recorder: c}, {Lister: c, Recorder: c}, {Lister: c, Binder: c}} {
		if _, err := New(cfg); !errors.Is(err, ErrMissingDependency) {
			t.Errorf("New(%+v) = %v", cfg, err)
		}
	}
}

type failingLister struct{}

func (failingLister) ListNodes() ([]*corev1.Node, error) { return nil, errors.New("store closed") }
func (failingLister) ListPods() ([]*corev1.Pod, error)   { return nil, nil }

func TestRunFailsWhenListFails(t *testing.T) {
	c := newFakeCluster(nil, nil)
	sched, err := New(Config{Lister: failingLister{}, Binder: c, Recorder: c, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sched.Run(context.Background()); err == nil || err.Error() != "scheduler: list nodes: store closed" {
		t.Fatalf("Run = %v", err)
	}
}

func TestSchedulingChanged(t *testing.T) {
	base := makeNode("n", "1", "1Gi", 110, nodeLabels("a", "b"))
	heartbeat := base.DeepCopy()
	heartbeat.Status.Conditions[0].LastHeartbeatTime.Time = testEpoch
	changes := map[string]*corev1.Node{
		"label":       makeNode("n", "1", "1Gi", 110, nodeLabels("a", "c")),
		"taint":       makeNode("n", "1", "1Gi", 110, nodeLabels("a", "b"), nodeTaint("k", "v", corev1.TaintEffectNoSchedule)),
		"cordon":      makeNode("n", "1", "1Gi", 110, nodeLabels("a", "b"), nodeCordoned),
		"allocatable": makeNode("n", "2", "1Gi", 110, nodeLabels("a", "b")),
		"readiness":   makeNode("n", "1", "1Gi", 110, nodeLabels("a", "b"), nodeReady(corev1.ConditionFalse)),
	}
	if schedulingChanged(base, heartbeat) {
		t.Error("heartbeat counted as a change")
	}
	if !schedulingChanged(nil, base) {
		t.Error("no old node: must count as a change")
	}
	var names []string
	for name, n := range changes {
		if !schedulingChanged(base, n) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) > 0 {
		t.Errorf("changes not seen: %v", names)
	}
}
