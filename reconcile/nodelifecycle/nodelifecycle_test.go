package nodelifecycle

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var unreachableTaints = []string{corev1.TaintNodeUnreachable + ":NoSchedule", corev1.TaintNodeUnreachable + ":NoExecute"}

func TestStaleHeartbeatMarksUnknownAndTaints(t *testing.T) {
	h := newHarness(t, "n1")
	h.at(10*time.Second, "n1")
	h.at(30 * time.Second) // last heartbeat at 10 s: exactly the grace
	if r := readyOf(h.node("n1")); r.Status != corev1.ConditionTrue || len(h.taints("n1")) != 0 {
		t.Fatalf("at 30 s: Ready %s, taints %v", r.Status, h.taints("n1"))
	}

	h.at(31 * time.Second)
	n := h.node("n1")
	r := readyOf(n)
	if r.Status != corev1.ConditionUnknown || r.Reason != ReasonNodeStatusUnknown || r.Message != MessageNodeStatusUnknown {
		t.Errorf("Ready %+v", r)
	}
	if !r.LastTransitionTime.Time.Equal(t0.Add(31*time.Second)) || !r.LastHeartbeatTime.Time.Equal(t0.Add(10*time.Second)) {
		t.Errorf("transition %s, heartbeat %s", r.LastTransitionTime, r.LastHeartbeatTime)
	}
	for _, c := range n.Status.Conditions {
		if c.Status != corev1.ConditionUnknown {
			t.Errorf("condition %s is %s", c.Type, c.Status)
		}
	}
	if got := h.taints("n1"); !slices.Equal(got, unreachableTaints) {
		t.Errorf("taints %v", got)
	}
	for _, tn := range n.Spec.Taints {
		if tn.Effect == corev1.TaintEffectNoExecute && (tn.TimeAdded == nil || !tn.TimeAdded.Time.Equal(t0.Add(31*time.Second))) {
			t.Errorf("NoExecute taint added %v", tn.TimeAdded)
		}
	}
	if h.rec.Count(EventNodeNotReady) != 1 {
		t.Errorf("events %v", h.rec.String())
	}

	// The agent is back: it posts Ready=True itself; the taints go.
	h.at(35 * time.Second)
	h.post("n1", corev1.ConditionTrue)
	eventually(t, "taints removed", func() bool { return len(h.taints("n1")) == 0 })
	h.at(40*time.Second, "n1")
	if r := readyOf(h.node("n1")); r.Status != corev1.ConditionTrue || len(h.taints("n1")) != 0 {
		t.Errorf("after recovery: Ready %s, taints %v", r.Status, h.taints("n1"))
	}
}

func TestNotReadyNodeGetsNotReadyTaints(t *testing.T) {
	h := newHarness(t, "n1")
	h.post("n1", corev1.ConditionFalse)
	want := []string{corev1.TaintNodeNotReady + ":NoSchedule", corev1.TaintNodeNotReady + ":NoExecute"}
	eventually(t, "not-ready taints", func() bool { return slices.Equal(h.taints("n1"), want) })
	h.post("n1", corev1.ConditionTrue)
	eventually(t, "taints removed", func() bool { return len(h.taints("n1")) == 0 })
}

func TestEvictionAfterTheTimeout(t *testing.T) {
	h := newHarness(t, "n1", "n2", "n3")
	h.putPod("plain", "n1")
	h.putPod("tolerates-60s", "n1", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](60)})
	h.putPod("tolerates-forever", "n1", corev1.Toleration{Operator: corev1.TolerationOpExists})
	h.putPod("not-ready-only", "n1", corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute})
	h.putPod("elsewhere", "n2")

	// n1 is silent from t0: Unknown at 21 s; evictions at 21 + 30 s.
	h.at(21*time.Second, "n2", "n3")
	if r := readyOf(h.node("n1")); r.Status != corev1.ConditionUnknown {
		t.Fatalf("n1 Ready %s", r.Status)
	}
	h.at(50*time.Second, "n2", "n3")
	for _, p := range []string{"plain", "tolerates-60s", "tolerates-forever", "not-ready-only", "elsewhere"} {
		if s := h.state(p); s != "running" {
			t.Errorf("at 50 s, %s is %s", p, s)
		}
	}

	h.at(51*time.Second, "n2", "n3")
	if s := h.state("plain"); s != "terminating" {
		t.Fatalf("at 51 s, plain is %s", s)
	}
	if s := h.state("not-ready-only"); s != "terminating" {
		t.Errorf("at 51 s, a pod tolerating another taint is %s", s)
	}
	if s := h.state("tolerates-60s"); s != "running" {
		t.Errorf("at 51 s, tolerates-60s is %s", s)
	}
	if h.rec.Count(EventNodeControllerEvict) != 2 {
		t.Errorf("events %v", h.rec.String())
	}

	// Grace 5 s, and no agent to finish: deleted for good at 56 s.
	h.at(55*time.Second, "n2", "n3")
	if s := h.state("plain"); s != "terminating" {
		t.Errorf("at 55 s, plain is %s", s)
	}
	h.at(56*time.Second, "n2", "n3")
	if s := h.state("plain"); s != "gone" {
		t.Errorf("at 56 s, plain is %s", s)
	}

	h.at(80*time.Second, "n2", "n3")
	if s := h.state("tolerates-60s"); s != "running" {
		t.Errorf("at 80 s, tolerates-60s is %s", s)
	}
	h.at(81*time.Second, "n2", "n3")
	if s := h.state("tolerates-60s"); s != "terminating" {
		t.Errorf("at 81 s, tolerates-60s is %s", s)
	}
	h.at(120*time.Second, "n2", "n3")
	if s := h.state("tolerates-forever"); s != "running" {
		t.Errorf("tolerates-forever is %s", s)
	}
	if s := h.state("elsewhere"); s != "running" {
		t.Errorf("the pod of a healthy node is %s", s)
	}
}

func TestRecoveryBeforeTheTimeoutEvictsNothing(t *testing.T) {
	h := newHarness(t, "n1")
	h.putPod("web", "n1")
	h.at(40 * time.Second)
	if r := readyOf(h.node("n1")); r.Status != corev1.ConditionUnknown {
		t.Fatalf("n1 Ready %s", r.Status)
	}
	h.post("n1", corev1.ConditionTrue)
	h.at(100*time.Second, "n1")
	if s := h.state("web"); s != "running" {
		t.Errorf("web is %s", s)
	}
}

func TestPartitionPausesEvictions(t *testing.T) {
	h := newHarness(t, "n1", "n2", "n3")
	h.putPod("a", "n1")
	h.putPod("b", "n2")
	h.putPod("c", "n3")

	// n1 and n2 go silent at once: 2 of 3 nodes.
	h.at(21*time.Second, "n3")
	for _, n := range []string{"n1", "n2"} {
		if got := h.taints(n); !slices.Equal(got, unreachableTaints) {
			t.Errorf("%s taints %v", n, got)
		}
	}
	h.at(90*time.Second, "n3")
	for _, p := range []string{"a", "b", "c"} {
		if s := h.state(p); s != "running" {
			t.Errorf("during the partition, %s is %s", p, s)
		}
	}
	if n := h.rec.Count(EventEvictionsPaused); n != 2 {
		t.Errorf("%d EvictionsPaused events: %v", n, h.rec.String())
	}

	// n2 is back: one node of three is down, a node failure: n1's pod goes.
	h.post("n2", corev1.ConditionTrue)
	h.at(92*time.Second, "n2", "n3")
	if s := h.state("a"); s != "terminating" {
		t.Errorf("after the partition, a is %s", s)
	}
	if s := h.state("b"); s != "running" {
		t.Errorf("b is %s", s)
	}
	if h.rec.Count(EventEvictionsResumed) != 1 {
		t.Errorf("events %v", h.rec.String())
	}
}

// Staleness is measured on the controller's clock from when a heartbeat
// changed: an agent whose clock is an hour behind stays ready, and a node
// found with an old heartbeat (a new leader, a cluster restart) gets a
// full grace first.
func TestHeartbeatAgeIsMeasuredOnTheLeadersClock(t *testing.T) {
	h := newHarness(t, "n1")
	old := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "behind"},
		Status: corev1.NodeStatus{Conditions: agentConditions(t0.Add(-time.Hour), corev1.ConditionTrue)}}
	if _, err := h.w.Create(h.ctx, "Node", old); err != nil {
		t.Fatal(err)
	}
	h.settle("behind")
	h.at(20*time.Second, "n1")
	if r := readyOf(h.node("behind")); r.Status != corev1.ConditionTrue {
		t.Fatalf("at 20 s: Ready %s", r.Status)
	}
	// Its agent beats every 5 s, an hour behind.
	for range 4 {
		h.postSkewed("behind", corev1.ConditionTrue, -time.Hour)
		h.step(5*time.Second, "n1")
	}
	if r := readyOf(h.node("behind")); r.Status != corev1.ConditionTrue || len(h.taints("behind")) != 0 || h.rec.Count(EventNodeNotReady) != 0 {
		t.Fatalf("an agent with a slow clock: Ready %s, taints %v, events %v", r.Status, h.taints("behind"), h.rec.String())
	}
	// It stops at 35 s: Unknown once its last beat is older than the grace.
	h.at(55*time.Second, "n1")
	if r := readyOf(h.node("behind")); r.Status != corev1.ConditionTrue {
		t.Fatalf("at 55 s: Ready %s", r.Status)
	}
	h.at(56*time.Second, "n1")
	if r := readyOf(h.node("behind")); r.Status != corev1.ConditionUnknown {
		t.Fatalf("at 56 s: Ready %s", r.Status)
	}
}
