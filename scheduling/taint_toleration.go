package scheduling

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// TaintTolerationName names the [TaintToleration] filter.
const TaintTolerationName = "TaintToleration"

// TaintToleration refuses a node with a NoSchedule or NoExecute taint the
// pod does not tolerate. PreferNoSchedule taints are not enforced.
type TaintToleration struct{}

var _ FilterPlugin = TaintToleration{}

// Name returns [TaintTolerationName].
func (TaintToleration) Name() string { return TaintTolerationName }

// Filter checks the node's taints against the pod's tolerations.
func (TaintToleration) Filter(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	taints := node.Node.Spec.Taints
	for i := range taints {
		t := &taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerates(pod.Pod.Spec.Tolerations, t) {
			return NewStatus(Unschedulable, fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value))
		}
	}
	return nil
}

// tolerates reports whether one of tols tolerates taint, by Kubernetes'
// rules: an empty effect matches every effect, an empty key with Exists
// every key, Exists every value, Equal (or no operator) the same value.
// The numeric operators Lt and Gt (off by default in Kubernetes) never
// match.
func tolerates(tols []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tols {
		t := &tols[i]
		if t.Effect != "" && t.Effect != taint.Effect {
			continue
		}
		if t.Key != "" && t.Key != taint.Key {
			continue
		}
		switch t.Operator {
		case corev1.TolerationOpExists:
			return true
		case "", corev1.TolerationOpEqual:
			if t.Value == taint.Value {
				return true
			}
		}
	}
	return false
}
