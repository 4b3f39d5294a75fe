package scheduling

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestTaintToleration(t *testing.T) {
	noSched, noExec, prefer := corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule
	exists, equal := corev1.TolerationOpExists, corev1.TolerationOpEqual
	db := nodeTaint("dedicated", "db", noSched)
	tests := []struct {
		name string
		node *corev1.Node
		pod  *corev1.Pod
		want string
	}{
		{"no taints", makeNode("n", "1", "1Gi", 10), makePod("p"), ""},
		{"untolerated NoSchedule", makeNode("n", "1", "1Gi", 10, db), makePod("p"),
			"Unschedulable: node(s) had untolerated taint {dedicated: db}"},
		{"untolerated NoExecute", makeNode("n", "1", "1Gi", 10, nodeTaint("gone", "", noExec)), makePod("p"),
			"Unschedulable: node(s) had untolerated taint {gone: }"},
		{"PreferNoSchedule is not enforced", makeNode("n", "1", "1Gi", 10, nodeTaint("soft", "x", prefer)), makePod("p"), ""},
		{"Equal", makeNode("n", "1", "1Gi", 10, db),
			makePod("p", tolerations(corev1.Toleration{Key: "dedicated", Operator: equal, Value: "db", Effect: noSched})), ""},
		{"no operator means Equal", makeNode("n", "1", "1Gi", 10, db),
			makePod("p", tolerations(corev1.Toleration{Key: "dedicated", Value: "db"})), ""},
		{"Equal, other value", makeNode("n", "1", "1Gi", 10, db),
			makePod("p", tolerations(corev1.Toleration{Key: "dedicated", Operator: equal, Value: "web"})),
			"Unschedulable: node(s) had untolerated taint {dedicated: db}"},
		{"Exists on the key", makeNode("n", "1", "1Gi", 10, db),
			makePod("p", tolerations(corev1.Toleration{Key: "dedicated", Operator: exists})), ""},
		{"Exists, other effect", makeNode("n", "1", "1Gi", 10, db),
			makePod("p", tolerations(corev1.Toleration{Key: "dedicated", Operator: exists, Effect: noExec})),
			"Unschedulable: node(s) had untolerated taint {dedicated: db}"},
		{"empty key with Exists tolerates all", makeNode("n", "1", "1Gi", 10, db, nodeTaint("x", "y", noExec)),
			makePod("p", tolerations(corev1.Toleration{Operator: exists})), ""},
		{"one of two taints untolerated", makeNode("n", "1", "1Gi", 10, db, nodeTaint("x", "y", noExec)),
			makePod("p", tolerations(corev1.Toleration{Key: "dedicated", Operator: exists})),
			"Unschedulable: node(s) had untolerated taint {x: y}"},
		{"numeric operators do not match", makeNode("n", "1", "1Gi", 10, nodeTaint("level", "5", noSched)),
			makePod("p", tolerations(corev1.Toleration{Key: "level", Operator: "Gt", Value: "3"})),
			"Unschedulable: node(s) had untolerated taint {level: 5}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filterResult(TaintToleration{}, tt.pod, nodeWith(tt.node)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
