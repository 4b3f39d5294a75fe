package scheduling

import (
	"context"
)

// NodeAffinityPreferredName names the [NodeAffinityPreferred] score.
const NodeAffinityPreferredName = "NodeAffinityPreferred"

// NodeAffinityPreferred scores a node by the summed weights of the pod's
// preferredDuringSchedulingIgnoredDuringExecution node affinity terms it
// matches, scaled so the best feasible node gets [MaxNodeScore].
type NodeAffinityPreferred struct{}

var (
	_ ScorePlugin     = NodeAffinityPreferred{}
	_ PreScorePlugin  = NodeAffinityPreferred{}
	_ ScoreNormalizer = NodeAffinityPreferred{}
)

// Name returns [NodeAffinityPreferredName].
func (NodeAffinityPreferred) Name() string { return NodeAffinityPreferredName }

// PreScore skips pods without preferred node affinity.
func (NodeAffinityPreferred) PreScore(_ context.Context, _ *CycleState, pod *PodInfo, _ []*NodeInfo) *Status {
	if len(pod.PreferredNodeTerms) == 0 {
		return NewStatus(Skip)
	}
	return nil
}

// Score sums the weights of the terms the node matches.
func (NodeAffinityPreferred) Score(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status) {
	var sum int64
	for i := range pod.PreferredNodeTerms {
		if pod.PreferredNodeTerms[i].Term.Matches(node.Node) {
			sum += pod.PreferredNodeTerms[i].Weight
		}
	}
	return sum, nil
}

// NormalizeScore scales the sums to the highest one.
func (NodeAffinityPreferred) NormalizeScore(_ context.Context, _ *CycleState, _ *PodInfo, scores []NodeScore) *Status {
	normalizeToMax(scores)
	return nil
}
