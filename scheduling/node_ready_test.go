package scheduling

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNodeReady(t *testing.T) {
	tolerate := func(key string) podOpt {
		return tolerations(corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists})
	}
	noCondition := func(n *corev1.Node) { n.Status.Conditions = nil }
	tests := []struct {
		name string
		node *corev1.Node
		pod  *corev1.Pod
		want string
	}{
		{"ready", makeNode("n", "1", "1Gi", 10), makePod("p"), ""},
		{"not ready", makeNode("n", "1", "1Gi", 10, nodeReady(corev1.ConditionFalse)), makePod("p"),
			"Unschedulable: node(s) were not ready"},
		{"unknown", makeNode("n", "1", "1Gi", 10, nodeReady(corev1.ConditionUnknown)), makePod("p"),
			"Unschedulable: node(s) were not ready"},
		{"no ready condition", makeNode("n", "1", "1Gi", 10, noCondition), makePod("p"),
			"Unschedulable: node(s) were not ready"},
		{"not ready, tolerated", makeNode("n", "1", "1Gi", 10, nodeReady(corev1.ConditionFalse)),
			makePod("p", tolerate(corev1.TaintNodeNotReady)), ""},
		{"unknown, not-ready toleration is not enough", makeNode("n", "1", "1Gi", 10, nodeReady(corev1.ConditionUnknown)),
			makePod("p", tolerate(corev1.TaintNodeNotReady)), "Unschedulable: node(s) were not ready"},
		{"unknown, unreachable tolerated", makeNode("n", "1", "1Gi", 10, nodeReady(corev1.ConditionUnknown)),
			makePod("p", tolerate(corev1.TaintNodeUnreachable)), ""},
		{"cordoned", makeNode("n", "1", "1Gi", 10, nodeCordoned), makePod("p"),
			"Unschedulable: node(s) were unschedulable"},
		{"cordoned, tolerated", makeNode("n", "1", "1Gi", 10, nodeCordoned),
			makePod("p", tolerate(corev1.TaintNodeUnschedulable)), ""},
		{"cordoned, toleration of another effect", makeNode("n", "1", "1Gi", 10, nodeCordoned),
			makePod("p", tolerations(corev1.Toleration{Key: corev1.TaintNodeUnschedulable,
				Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})),
			"Unschedulable: node(s) were unschedulable"},
		{"cordoned, tolerate everything", makeNode("n", "1", "1Gi", 10, nodeCordoned),
			makePod("p", tolerations(corev1.Toleration{Operator: corev1.TolerationOpExists})), ""},
		{"cordoned and not ready: cordon reported", makeNode("n", "1", "1Gi", 10, nodeCordoned, nodeReady(corev1.ConditionFalse)),
			makePod("p"), "Unschedulable: node(s) were unschedulable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filterResult(NodeReady{}, tt.pod, nodeWith(tt.node)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
