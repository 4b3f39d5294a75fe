package scheduling

import (
	"context"
)

// NodeResourcesFitName names the [NodeResourcesFit] filter.
const NodeResourcesFitName = "NodeResourcesFit"

// Reasons [NodeResourcesFit] gives; a node short of several resources gets
// several.
const (
	ReasonTooManyPods        = "Too many pods"
	ReasonInsufficientCPU    = "Insufficient cpu"
	ReasonInsufficientMemory = "Insufficient memory"
)

// NodeResourcesFit refuses a node whose allocatable CPU, memory or pod
// count, minus what the pods on it request, cannot hold the pod's
// requests.
type NodeResourcesFit struct{}

var _ FilterPlugin = NodeResourcesFit{}

// Name returns [NodeResourcesFitName].
func (NodeResourcesFit) Name() string { return NodeResourcesFitName }

// Filter compares the pod's requests with what the node has left.
func (NodeResourcesFit) Filter(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	var reasons []string
	alloc, used, req := node.Allocatable, node.Requested, pod.Requests
	if used.Pods+1 > alloc.Pods {
		reasons = append(reasons, ReasonTooManyPods)
	}
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU {
		reasons = append(reasons, ReasonInsufficientCPU)
	}
	if req.Memory > 0 && req.Memory > alloc.Memory-used.Memory {
		reasons = append(reasons, ReasonInsufficientMemory)
	}
	if reasons != nil {
		return NewStatus(Unschedulable, reasons...)
	}
	return nil
}
