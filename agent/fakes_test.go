package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/agent/podnet"
	"github.com/skiffhq/skiff/agent/probe"
	"github.com/skiffhq/skiff/agent/runtime"
	"github.com/skiffhq/skiff/agent/volumes"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

const testNode = "node1"

// fakeCluster is the API as the agent sees it: ConfigMaps and Secrets
// served from maps, every status update, delete and event recorded, and
// Nodes.
type fakeCluster struct {
	mu       sync.Mutex
	cms      map[string]*corev1.ConfigMap // namespace/name
	secrets  map[string]*corev1.Secret
	statuses []*corev1.Pod // every UpdatePodStatus, in order
	deletes  []deleteCall
	events   []*corev1.Event
	nodes    map[string]*corev1.Node
	// podCIDR is given to a node just after its create (as the leader
	// does): the create's answer does not have it yet.
	podCIDR string
	// nodeCalls counts GetNode/CreateNode/UpdateNode/UpdateNodeStatus.
	nodeCalls map[string]int
}

type deleteCall struct {
	namespace, name string
	uid             types.UID
}

var _ Cluster = (*fakeCluster)(nil)

func newFakeCluster() *fakeCluster {
	return &fakeCluster{cms: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		nodes: map[string]*corev1.Node{}, nodeCalls: map[string]int{}}
}

func (f *fakeCluster) setConfigMap(ns, name string, data map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cms[ns+"/"+name] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func (f *fakeCluster) setSecret(ns, name string, data map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[ns+"/"+name] = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func (f *fakeCluster) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cm, ok := f.cms[ns+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
	}
	return cm.DeepCopy(), nil
}

func (f *fakeCluster) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.secrets[ns+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
	}
	return s.DeepCopy(), nil
}

func (f *fakeCluster) UpdatePodStatus(_ context.Context, pod *corev1.Pod) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, pod.DeepCopy())
	return nil
}

func (f *fakeCluster) DeletePod(_ context.Context, ns, name string, uid types.UID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, deleteCall{ns, name, uid})
	return nil
}

func (f *fakeCluster) GetNode(_ context.Context, name string) (*corev1.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodeCalls["GetNode"]++
	n, ok := f.nodes[name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, name)
	}
	return n.DeepCopy(), nil
}

func (f *fakeCluster) CreateNode(_ context.Context, node *corev1.Node) (*corev1.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodeCalls["CreateNode"]++
	if _, ok := f.nodes[node.Name]; ok {
		return nil, apierrors.NewAlreadyExists(schema.GroupResource{Resource: "nodes"}, node.Name)
	}
	// The node is created without a CIDR; the leader gives it one just
	// after, which the agent sees on its next read.
	stored := node.DeepCopy()
	stored.Spec.PodCIDR = f.podCIDR
	f.nodes[node.Name] = stored
	return node.DeepCopy(), nil
}

func (f *fakeCluster) UpdateNode(_ context.Context, node *corev1.Node) (*corev1.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodeCalls["UpdateNode"]++
	cur, ok := f.nodes[node.Name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, node.Name)
	}
	upd := node.DeepCopy()
	upd.Status = cur.Status // the main endpoint ignores status
	f.nodes[node.Name] = upd
	return upd.DeepCopy(), nil
}

func (f *fakeCluster) UpdateNodeStatus(_ context.Context, node *corev1.Node) (*corev1.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodeCalls["UpdateNodeStatus"]++
	cur, ok := f.nodes[node.Name]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, node.Name)
	}
	upd := cur.DeepCopy()
	upd.Status = *node.Status.DeepCopy()
	f.nodes[node.Name] = upd
	return upd.DeepCopy(), nil
}

func (f *fakeCluster) CreateEvent(_ context.Context, ev *corev1.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev.DeepCopy())
	return nil
}

// lastStatus returns the pod as last written with its status, nil if never.
func (f *fakeCluster) lastStatus(uid types.UID) *corev1.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.statuses) - 1; i >= 0; i-- {
		if f.statuses[i].UID == uid {
			return f.statuses[i].DeepCopy()
		}
	}
	return nil
}

// statusesOf returns every status written for the pod, oldest first.
func (f *fakeCluster) statusesOf(uid types.UID) []corev1.PodStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []corev1.PodStatus
	for _, p := range f.statuses {
		if p.UID == uid {
			out = append(out, *p.Status.DeepCopy())
		}
	}
	return out
}

func (f *fakeCluster) statusWrites(uid types.UID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.statuses {
		if p.UID == uid {
			n++
		}
	}
	return n
}

func (f *fakeCluster) deleteCalls() []deleteCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]deleteCall(nil), f.deletes...)
}

// eventsOf returns "Reason: message" of the pod's events.
func (f *fakeCluster) eventsOf(uid types.UID) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		if e.InvolvedObject.UID == uid {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return out
}

func (f *fakeCluster) node(name string) *corev1.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.nodes[name]; ok {
		return n.DeepCopy()
	}
	return nil
}

// recRuntime wraps the fake runtime: it records the specs it is asked to
// create and the calls the agent makes (the fake's own Calls map is not
// safe to read while the agent runs), and reports a stopped container's
// exit on Exits as containerd does (the fake reports only Exit).
type recRuntime struct {
	*runtime.Fake
	exits chan string
	quit  chan struct{}

	mu      sync.Mutex
	specs   []runtime.ContainerSpec
	calls   map[string]int
	stopped []string
	graces  map[string]time.Duration // container -> grace it was stopped with
}

func newRecRuntime(t *testing.T, now func() time.Time) *recRuntime {
	r := &recRuntime{Fake: runtime.NewFake(now), exits: make(chan string, 1024), quit: make(chan struct{}),
		calls: map[string]int{}, graces: map[string]time.Duration{}}
	go func() {
		for {
			select {
			case <-r.quit:
				return
			case id := <-r.Fake.Exits():
				r.exits <- id
			}
		}
	}()
	t.Cleanup(func() { close(r.quit) })
	return r
}

func (r *recRuntime) count(name string) {
	r.mu.Lock()
	r.calls[name]++
	r.mu.Unlock()
}

// calls returns how often the agent called method name.
func (r *recRuntime) callCount(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[name]
}

func (r *recRuntime) CreateContainer(ctx context.Context, spec *runtime.ContainerSpec) error {
	r.mu.Lock()
	r.calls["CreateContainer"]++
	cp := *spec
	cp.Env = append([]string(nil), spec.Env...)
	cp.Mounts = append([]runtime.Mount(nil), spec.Mounts...)
	r.specs = append(r.specs, cp)
	r.mu.Unlock()
	return r.Fake.CreateContainer(ctx, spec)
}

func (r *recRuntime) StartContainer(ctx context.Context, id string) error {
	r.count("StartContainer")
	return r.Fake.StartContainer(ctx, id)
}

func (r *recRuntime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	r.mu.Lock()
	r.calls["StopContainer"]++
	r.stopped = append(r.stopped, id)
	r.graces[id] = grace
	r.mu.Unlock()
	before, _ := r.Fake.ContainerStatus(ctx, id)
	err := r.Fake.StopContainer(ctx, id, grace)
	if err == nil && before != nil && before.State == runtime.StateRunning {
		select {
		case r.exits <- id:
		default:
		}
	}
	return err
}

func (r *recRuntime) RemoveContainer(ctx context.Context, id string) error {
	r.count("RemoveContainer")
	return r.Fake.RemoveContainer(ctx, id)
}

func (r *recRuntime) EnsureImage(ctx context.Context, ref string, policy runtime.PullPolicy, creds []runtime.Credential) (*runtime.Image, error) {
	r.count("EnsureImage")
	return r.Fake.EnsureImage(ctx, ref, policy, creds)
}

func (r *recRuntime) ListContainers(ctx context.Context, match map[string]string) ([]runtime.Container, error) {
	r.count("ListContainers")
	return r.Fake.ListContainers(ctx, match)
}

func (r *recRuntime) Exits() <-chan string { return r.exits }

func (r *recRuntime) grace(id string) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.graces[id]
	return g, ok
}

// spec returns the spec the container id was created with.
func (r *recRuntime) spec(t *testing.T, id string) runtime.ContainerSpec {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.specs) - 1; i >= 0; i-- {
		if r.specs[i].ID == id {
			return r.specs[i]
		}
	}
	t.Fatalf("container %s was never created; created: %v", id, r.createdLocked())
	return runtime.ContainerSpec{}
}

func (r *recRuntime) created() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.createdLocked()
}

func (r *recRuntime) createdLocked() []string {
	var out []string
	for _, s := range r.specs {
		out = append(out, s.ID)
	}
	return out
}

func (r *recRuntime) stoppedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.stopped...)
}

// ids returns the IDs of the runtime's containers of a pod, sorted.
func (r *recRuntime) ids(t *testing.T, uid types.UID) []string {
	t.Helper()
	list, err := r.Fake.ListContainers(context.Background(), map[string]string{labelPodUID: string(uid)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range list {
		out = append(out, c.ID)
	}
	return out
}

func (r *recRuntime) state(t *testing.T, id string) *runtime.Container {
	t.Helper()
	c, err := r.Fake.ContainerStatus(context.Background(), id)
	if err != nil {
		t.Fatalf("container %s: %v", id, err)
	}
	return c
}

// testClock is a fake clock that also counts its After calls by duration,
// so a test can wait until the agent's worker waits before stepping past
// the wait.
type testClock struct {
	*clocktesting.FakeClock
	mu     sync.Mutex
	afters map[time.Duration]int
}

func newTestClock() *testClock {
	return &testClock{FakeClock: clocktesting.NewFakeClock(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)),
		afters: map[time.Duration]int{}}
}

func (c *testClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.afters[d]++
	c.mu.Unlock()
	return c.FakeClock.After(d)
}

func (c *testClock) afterCount(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.afters[d]
}

// fakeProber answers probes as the test decides, from the probe's kind,
// the container's name and (for exec probes) its ID.
type fakeProber struct {
	mu     sync.Mutex
	decide func(kind probe.Kind, container, id string) probe.Result
	calls  map[probe.Kind]int
}

func (p *fakeProber) set(decide func(kind probe.Kind, container, id string) probe.Result) {
	p.mu.Lock()
	p.decide = decide
	p.mu.Unlock()
}

func (p *fakeProber) count(k probe.Kind) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[k]
}

func (p *fakeProber) Probe(_ context.Context, pr *corev1.Probe, t probe.Target) (probe.Result, string) {
	kind := probe.Kind(0)
	switch pr {
	case t.Container.LivenessProbe:
		kind = probe.Liveness
	case t.Container.ReadinessProbe:
		kind = probe.Readiness
	case t.Container.StartupProbe:
		kind = probe.Startup
	}
	id := ""
	if e, ok := t.Exec.(execer); ok {
		id = e.id
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls == nil {
		p.calls = map[probe.Kind]int{}
	}
	p.calls[kind]++
	if p.decide == nil {
		return probe.Success, ""
	}
	return p.decide(kind, t.Container.Name, id), "decided by the test"
}

// harness is an agent on fakes; the parts outlive the agent so a second
// agent can take them over.
type harness struct {
	t       *testing.T
	clk     *testClock
	rt      *recRuntime
	net     *podnet.Fake
	cluster *fakeCluster
	vols    *volumes.Manager
	mounter *volumes.FakeMounter
	prober  *fakeProber
	dataDir string
	resolv  string

	a      *Agent
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clk: newTestClock(), net: podnet.NewFake("10.42.0.0/24"), cluster: newFakeCluster(),
		mounter: &volumes.FakeMounter{}, prober: &fakeProber{}, dataDir: t.TempDir()}
	h.rt = newRecRuntime(t, h.clk.Now)
	h.resolv = filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(h.resolv, []byte("nameserver 10.43.0.10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vols, err := volumes.New(volumes.Config{Root: h.dataDir, Source: h.cluster, Mounter: h.mounter, Clock: h.clk,
		Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h.vols = vols
	return h
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newAgent makes an agent on the harness' parts without running it.
func (h *harness) newAgent() *Agent {
	h.t.Helper()
	a, err := New(Config{NodeName: testNode, DataDir: h.dataDir, Cluster: h.cluster, Runtime: h.rt, Network: h.net,
		Volumes: h.vols, Clock: h.clk, SyncPeriod: time.Hour, HostIP: "192.168.1.10", Prober: h.prober,
		ResolvConf: h.resolv, Logger: testLogger()})
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// start runs a new agent until the test ends (or stop).
func (h *harness) start() *Agent {
	h.t.Helper()
	return h.run(h.newAgent())
}

func (h *harness) run(a *Agent) *Agent {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.a, h.cancel, h.done = a, cancel, make(chan error, 1)
	go func() { h.done <- a.Run(ctx) }()
	h.t.Cleanup(h.stop)
	return a
}

// stop stops the running agent and waits until Run has returned.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Errorf("Run did not return")
	}
	h.cancel = nil
}

// waitFor polls cond (real time, a few ms per step) until it holds.
func waitFor(t *testing.T, what string, cond func() bool, explain func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if explain != nil {
				msg = explain()
			}
			t.Fatalf("timed out waiting for %s\n%s", what, msg)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitStatus waits until the pod's last written status satisfies cond and
// returns it.
func (h *harness) waitStatus(uid types.UID, what string, cond func(st *corev1.PodStatus) bool) corev1.PodStatus {
	h.t.Helper()
	var last *corev1.Pod
	waitFor(h.t, what, func() bool {
		last = h.cluster.lastStatus(uid)
		return last != nil && cond(&last.Status)
	}, func() string {
		if last == nil {
			return "no status written"
		}
		return "last status: " + dump(last.Status) + "\nevents: " + strings.Join(h.cluster.eventsOf(uid), "\n  ")
	})
	return last.Status
}

// waitSaw waits until some status written for the pod (not necessarily
// the last: a state may last one sync only) satisfies cond, and returns
// the first that did.
func (h *harness) waitSaw(uid types.UID, what string, cond func(st *corev1.PodStatus) bool) corev1.PodStatus {
	h.t.Helper()
	var found *corev1.PodStatus
	waitFor(h.t, what, func() bool {
		for _, st := range h.cluster.statusesOf(uid) {
			if cond(&st) {
				found = &st
				return true
			}
		}
		return false
	}, func() string { return "statuses written: " + dump(h.cluster.statusesOf(uid)) })
	return *found
}

// stepAfter waits until the agent has called clock.After(d) more than n
// times, then steps the clock by d.
func (h *harness) stepAfter(d time.Duration, n int) {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("a wait of %s", d), func() bool { return h.clk.afterCount(d) > n }, nil)
	h.clk.Step(d)
}

// kick delivers the pod as the API has it now (its last written status),
// as the informer does after a status write.
func (h *harness) kick(pod *corev1.Pod) {
	if p := h.cluster.lastStatus(pod.UID); p != nil {
		pod = p
	}
	h.a.PodUpdated(pod)
}

func dump(v any) string {
	raw, _ := json.MarshalIndent(v, "", "  ")
	return string(raw)
}

// testPod returns a pod bound to testNode with restartPolicy Always.
func testPod(name string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name), ResourceVersion: "7"},
		Spec:       corev1.PodSpec{NodeName: testNode, RestartPolicy: corev1.RestartPolicyAlways, Containers: containers},
	}
}

func ctr(name, image string) corev1.Container {
	return corev1.Container{Name: name, Image: image}
}

// cstatus returns the status of container name.
func cstatus(t *testing.T, st corev1.PodStatus, name string) corev1.ContainerStatus {
	t.Helper()
	for _, cs := range append(append([]corev1.ContainerStatus(nil), st.InitContainerStatuses...), st.ContainerStatuses...) {
		if cs.Name == name {
			return cs
		}
	}
	t.Fatalf("no status for container %s in %s", name, dump(st))
	return corev1.ContainerStatus{}
}

// findStatus is cstatus for conditions (nil when absent).
func findStatus(st *corev1.PodStatus, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func waitingReason(st *corev1.PodStatus, name string) string {
	if cs := findStatus(st, name); cs != nil && cs.State.Waiting != nil {
		return cs.State.Waiting.Reason
	}
	return ""
}

func runningID(st *corev1.PodStatus, name string) string {
	if cs := findStatus(st, name); cs != nil && cs.State.Running != nil {
		return cs.ContainerID
	}
	return ""
}

func condition(st corev1.PodStatus, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func cid(uid types.UID, name string, attempt int) string {
	return fmt.Sprintf("%s-%s-%d", uid, name, attempt)
}
