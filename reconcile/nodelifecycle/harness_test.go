package nodelifecycle

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/reconciletest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

var (
	reg = resources.Default()
	t0  = reconciletest.T0
)

type harness struct {
	t     *testing.T
	ctx   context.Context
	store storage.Store
	clk   *clocktesting.FakeClock
	w     *reconcile.StoreWriter
	rec   *reconciletest.Recorder
	c     *Controller
	nodes *reconcile.Informer

	mu sync.Mutex
	// lastSync is each node's last successful sync.
	lastSync map[string]seen
}

// seen is a node sync: the clock then, and the node's resourceVersion read.
type seen struct {
	now time.Time
	rv  uint64
}

// newHarness starts the controller over an in-memory store with the
// default namespace and nodes named as given, all ready with a heartbeat
// at t0.
func newHarness(t *testing.T, nodes ...string) *harness {
	t.Helper()
	env := reconciletest.NewEnv(t)
	store, clk, w, ctx, log := env.Store, env.Clock, env.Writer, env.Ctx, env.Log
	h := &harness{t: t, ctx: ctx, store: store, clk: clk, w: w, rec: &reconciletest.Recorder{}, lastSync: map[string]seen{}}
	for _, n := range nodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}, Status: corev1.NodeStatus{Conditions: agentConditions(t0, corev1.ConditionTrue)}}
		if _, err := w.Create(ctx, "Node", node); err != nil {
			t.Fatal(err)
		}
	}
	infs := reconcile.NewInformers(store, reg, log)
	h.nodes = infs.For("Node")
	h.c = New(Config{
		Nodes: h.nodes, Pods: infs.For("Pod"), Writer: w,
		PodDeleter: StorePodDeleter{Store: store, Registry: reg},
		Recorder:   h.rec, Clock: clk, Logger: log, MonitorPeriod: time.Second,
	})
	h.c.synced = func(node, rv string, now time.Time) {
		v, _ := strconv.ParseUint(rv, 10, 64)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.lastSync[node] = seen{now: now, rv: v}
	}
	env.Run(t, infs, h.c)
	h.settle(nodes...)
	return h
}

// agentConditions are the conditions an agent posts at a heartbeat.
func agentConditions(at time.Time, ready corev1.ConditionStatus) []corev1.NodeCondition {
	now := metav1.NewTime(at)
	return []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: ready, Reason: "AgentReady", LastHeartbeatTime: now, LastTransitionTime: now},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
	}
}

func (h *harness) res(kind string) *resources.Resource {
	res, _ := reg.ByKind(kind)
	return res
}

func (h *harness) node(name string) *corev1.Node {
	h.t.Helper()
	rec, err := h.store.Get(h.ctx, h.res("Node"), "", name, true)
	if err != nil {
		h.t.Fatal(err)
	}
	return rec.Object().(*corev1.Node)
}

func readyOf(n *corev1.Node) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	return corev1.NodeCondition{}
}

// taints returns the node's taints as "key:Effect".
func (h *harness) taints(name string) []string {
	var out []string
	for _, t := range h.node(name).Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	return out
}

// post writes the node's status as its agent does, at the current time,
// and waits until the controller has synced the node since.
func (h *harness) post(name string, ready corev1.ConditionStatus) {
	h.t.Helper()
	h.postSkewed(name, ready, 0)
}

// postSkewed is post from an agent whose clock is off by skew.
func (h *harness) postSkewed(name string, ready corev1.ConditionStatus, skew time.Duration) {
	h.t.Helper()
	for {
		n := h.node(name).DeepCopy()
		n.Status.Conditions = agentConditions(h.clk.Now().Add(skew), ready)
		obj, err := h.w.UpdateStatus(h.ctx, "Node", n)
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			h.t.Fatal(err)
		}
		want, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
		now := h.clk.Now()
		eventually(h.t, "the heartbeat seen", func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			s := h.lastSync[name]
			return s.rv >= want && s.now.Equal(now)
		})
		return
	}
}

// step moves the clock by d, then the healthy nodes post their status. It
// returns once every node was synced at the new time.
func (h *harness) step(d time.Duration, healthy ...string) {
	h.t.Helper()
	h.clk.Step(d)
	for _, n := range healthy {
		h.post(n, corev1.ConditionTrue)
	}
	var names []string
	for _, n := range h.nodes.List() {
		names = append(names, n.GetName())
	}
	h.settle(names...)
}

// settle waits until each node was synced at the current time.
func (h *harness) settle(nodes ...string) {
	h.t.Helper()
	now := h.clk.Now()
	eventually(h.t, fmt.Sprintf("nodes %v synced at %s", nodes, now.Sub(t0)), func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, n := range nodes {
			if !h.lastSync[n].now.Equal(now) {
				return false
			}
		}
		return true
	})
}

// at moves the clock to t0+d by steps of at most 5 s (so that healthy
// nodes beat within their grace), the healthy nodes posting heartbeats.
func (h *harness) at(d time.Duration, healthy ...string) {
	h.t.Helper()
	for {
		left := t0.Add(d).Sub(h.clk.Now())
		if left <= 0 {
			return
		}
		h.step(min(left, 5*time.Second), healthy...)
	}
}

func (h *harness) putPod(name, node string, tolerations ...corev1.Toleration) {
	h.t.Helper()
	grace := int64(5)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: k8stypes.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(h.clk.Now())},
		Spec: corev1.PodSpec{NodeName: node, TerminationGracePeriodSeconds: &grace, Tolerations: tolerations,
			Containers: []corev1.Container{{Name: "c", Image: "echo"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	h.res("Pod").Default(pod)
	if _, err := h.store.Create(h.ctx, h.res("Pod"), pod); err != nil {
		h.t.Fatal(err)
	}
}

// pod returns the stored pod, nil when there is none.
func (h *harness) pod(name string) *corev1.Pod {
	h.t.Helper()
	rec, err := h.store.Get(h.ctx, h.res("Pod"), "default", name, true)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return rec.Object().(*corev1.Pod)
}

// state is "running", "terminating" or "gone".
func (h *harness) state(name string) string {
	p := h.pod(name)
	switch {
	case p == nil:
		return "gone"
	case p.DeletionTimestamp != nil:
		return "terminating"
	}
	return "running"
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
