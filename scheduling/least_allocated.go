package scheduling

import (
	"context"
)

// LeastAllocatedName names the [LeastAllocated] score.
const LeastAllocatedName = "LeastAllocated"

// LeastAllocated prefers the node with the most CPU and memory left once
// the pod is placed: each resource scores its free fraction of allocatable
// times [MaxNodeScore], and the score is their mean. Containers without
// requests count at the defaults ([DefaultMilliCPURequest],
// [DefaultMemoryRequest]) so best-effort pods spread too.
type LeastAllocated struct{}

var _ ScorePlugin = LeastAllocated{}

// Name returns [LeastAllocatedName].
func (LeastAllocated) Name() string { return LeastAllocatedName }

// Score returns the mean free fraction of CPU and memory after placing pod.
func (LeastAllocated) Score(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status) {
	cpu := freeScore(node.Allocatable.MilliCPU, node.NonZeroRequested.MilliCPU+pod.NonZeroRequests.MilliCPU)
	mem := freeScore(node.Allocatable.Memory, node.NonZeroRequested.Memory+pod.NonZeroRequests.Memory)
	return (cpu + mem) / 2, nil
}

// freeScore is the free share of capacity once requested is taken, 0-100.
func freeScore(capacity, requested int64) int64 {
	if capacity <= 0 || requested >= capacity {
		return 0
	}
	// Scale before dividing; memory in bytes times 100 stays far below
	// the int64 range for any real node.
	return (capacity - requested) * MaxNodeScore / capacity
}
