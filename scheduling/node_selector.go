package scheduling

import (
	"context"
)

// NodeSelectorName names the [NodeSelector] filter.
const NodeSelectorName = "NodeSelector"

// ReasonNodeSelectorMismatch is the reason [NodeSelector] gives.
const ReasonNodeSelectorMismatch = "node(s) didn't match Pod's node affinity/selector"

// NodeSelector refuses a node that lacks a label of the pod's
// spec.nodeSelector or matches none of the terms of its required node
// affinity (terms ORed; within a term, matchExpressions and matchFields
// ANDed; operators In, NotIn, Exists, DoesNotExist, Gt, Lt; matchFields on
// metadata.name).
type NodeSelector struct{}

var _ FilterPlugin = NodeSelector{}

// Name returns [NodeSelectorName].
func (NodeSelector) Name() string { return NodeSelectorName }

// Filter matches the node against the pod's compiled node constraints.
func (NodeSelector) Filter(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	if pod.NodeSelector.Matches(node.Node) {
		return nil
	}
	return NewStatus(Unschedulable, ReasonNodeSelectorMismatch)
}
