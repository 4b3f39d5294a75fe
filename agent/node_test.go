package agent

import (
	"context"
	goruntime "runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRegister(t *testing.T) {
	h := newHarness(t)
	h.cluster.podCIDR = "10.42.3.0/24"
	a := h.newAgent()
	nc := NodeConfig{Labels: map[string]string{"zone": "a"}, MaxPods: 42, Port: 10250, Version: "v0.9.0",
		Taints: []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}}
	type result struct {
		node *corev1.Node
		err  error
	}
	done := make(chan result, 1)
	go func() {
		n, err := a.Register(context.Background(), nc)
		done <- result{n, err}
	}()
	// The create returns no CIDR yet: Register waits, then reads it back.
	h.stepAfter(500*time.Millisecond, 0)
	var res result
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Register did not return")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.node.Spec.PodCIDR != "10.42.3.0/24" {
		t.Errorf("Register returned pod CIDR %q", res.node.Spec.PodCIDR)
	}
	h.cluster.mu.Lock()
	calls := map[string]int{}
	for k, v := range h.cluster.nodeCalls {
		calls[k] = v
	}
	h.cluster.mu.Unlock()
	if calls["CreateNode"] != 1 || calls["GetNode"] != 2 {
		t.Errorf("node calls %v, want one create and two reads", calls)
	}

	n := h.cluster.node(testNode)
	for k, v := range map[string]string{"zone": "a", "kubernetes.io/hostname": testNode,
		"kubernetes.io/os": goruntime.GOOS, "kubernetes.io/arch": goruntime.GOARCH} {
		if n.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, n.Labels[k], v)
		}
	}
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "dedicated" {
		t.Errorf("taints %+v", n.Spec.Taints)
	}
	st := n.Status
	if q := st.Capacity[corev1.ResourcePods]; q.Cmp(resource.MustParse("42")) != 0 {
		t.Errorf("pods capacity %s", q.String())
	}
	if q := st.Capacity[corev1.ResourceCPU]; q.Value() != int64(goruntime.NumCPU()) {
		t.Errorf("cpu capacity %s", q.String())
	}
	if q := st.Capacity[corev1.ResourceMemory]; q.Value() <= 0 {
		t.Errorf("memory capacity %s", q.String())
	}
	if q := st.Allocatable[corev1.ResourcePods]; q.Value() != 42 {
		t.Errorf("allocatable pods %s", q.String())
	}
	conds := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range st.Conditions {
		conds[c.Type] = c
	}
	if c := conds[corev1.NodeReady]; c.Status != corev1.ConditionTrue || c.Reason != "AgentReady" ||
		!c.LastHeartbeatTime.Equal(&metav1.Time{Time: h.clk.Now().Add(-500 * time.Millisecond)}) {
		t.Errorf("Ready condition %+v", c)
	}
	if c := conds[corev1.NodePIDPressure]; c.Status != corev1.ConditionFalse {
		t.Errorf("PIDPressure %+v", c)
	}
	if _, ok := conds[corev1.NodeMemoryPressure]; !ok {
		t.Errorf("no MemoryPressure condition")
	}
	if len(st.Addresses) != 2 || st.Addresses[0] != (corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}) ||
		st.Addresses[1].Type != corev1.NodeHostName || st.Addresses[1].Address == "" {
		t.Errorf("addresses %+v", st.Addresses)
	}
	if st.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("kubelet endpoint %+v", st.DaemonEndpoints)
	}
	info := st.NodeInfo
	if info.ContainerRuntimeVersion != "fake://0" || info.KubeletVersion != "v0.9.0" || info.OperatingSystem != goruntime.GOOS ||
		info.Architecture != goruntime.GOARCH || info.KernelVersion == "" || info.OSImage == "" {
		t.Errorf("nodeInfo %+v", info)
	}

	// Registering again (an agent restart) updates the existing node: the
	// labels are merged, the status rewritten, nothing created.
	n.Labels["added-by-user"] = "yes"
	if _, err := h.cluster.UpdateNode(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	nc.Labels = map[string]string{"zone": "b"}
	h.clk.Step(time.Minute)
	again, err := h.newAgent().Register(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	if again.Spec.PodCIDR != "10.42.3.0/24" || again.Labels["zone"] != "b" || again.Labels["added-by-user"] != "yes" {
		t.Errorf("re-registered node: cidr %q, labels %v", again.Spec.PodCIDR, again.Labels)
	}
	if c := h.cluster.node(testNode).Status.Conditions[0]; c.Type != corev1.NodeReady || !c.LastHeartbeatTime.Time.Equal(h.clk.Now()) {
		t.Errorf("status not rewritten: %+v", c)
	}
	h.cluster.mu.Lock()
	if h.cluster.nodeCalls["CreateNode"] != 1 {
		t.Errorf("the existing node was created again")
	}
	h.cluster.mu.Unlock()
}
