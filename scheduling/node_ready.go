package scheduling

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// NodeReadyName names the [NodeReady] filter.
const NodeReadyName = "NodeReady"

// Reasons [NodeReady] gives.
const (
	ReasonNodeUnschedulable = "node(s) were unschedulable"
	ReasonNodeNotReady      = "node(s) were not ready"
)

// NodeReady refuses cordoned nodes (spec.unschedulable) and nodes whose
// Ready condition is not True. As in Kubernetes, a pod that tolerates the
// matching taint passes anyway: node.kubernetes.io/unschedulable for a
// cordoned node, node.kubernetes.io/not-ready for Ready=False or no Ready
// condition, node.kubernetes.io/unreachable for Ready=Unknown.
type NodeReady struct{}

var _ FilterPlugin = NodeReady{}

// Name returns [NodeReadyName].
func (NodeReady) Name() string { return NodeReadyName }

// Filter checks that the node is schedulable and ready.
func (NodeReady) Filter(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	n := node.Node
	tols := pod.Pod.Spec.Tolerations
	if n.Spec.Unschedulable && !tolerates(tols, &corev1.Taint{
		Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
		return NewStatus(Unschedulable, ReasonNodeUnschedulable)
	}
	status := node.Ready
	if status == corev1.ConditionTrue {
		return nil
	}
	key := corev1.TaintNodeNotReady
	if status == corev1.ConditionUnknown {
		key = corev1.TaintNodeUnreachable
	}
	if tolerates(tols, &corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule}) {
		return nil
	}
	return NewStatus(Unschedulable, ReasonNodeNotReady)
}
