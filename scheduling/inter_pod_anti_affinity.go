package scheduling

import (
	"context"
)

// InterPodAntiAffinityPreferredName names the
// [InterPodAntiAffinityPreferred] score.
const InterPodAntiAffinityPreferredName = "InterPodAntiAffinityPreferred"

// InterPodAntiAffinityPreferred honours preferred pod anti-affinity over
// the hostname topology (topologyKey kubernetes.io/hostname): a node
// scores lower the more weight it collects from pods on it that the
// incoming pod's terms select, and from pods on it whose own terms select
// the incoming pod (anti-affinity is symmetric). Terms over other
// topology keys, or with a namespace selector other than {}, are ignored.
type InterPodAntiAffinityPreferred struct{}

var (
	_ ScorePlugin     = InterPodAntiAffinityPreferred{}
	_ PreScorePlugin  = InterPodAntiAffinityPreferred{}
	_ ScoreNormalizer = InterPodAntiAffinityPreferred{}
)

// Name returns [InterPodAntiAffinityPreferredName].
func (InterPodAntiAffinityPreferred) Name() string { return InterPodAntiAffinityPreferredName }

// PreScore skips the plugin when neither the pod nor any pod on a feasible
// node has preferred anti-affinity.
func (InterPodAntiAffinityPreferred) PreScore(_ context.Context, _ *CycleState, pod *PodInfo, nodes []*NodeInfo) *Status {
	if len(pod.PreferredAntiAffinity) > 0 {
		return nil
	}
	for _, n := range nodes {
		if len(n.PodsWithAntiAffinity) > 0 {
			return nil
		}
	}
	return NewStatus(Skip)
}

// Score sums the weight of every (term, pod) pair that repels the pod from
// the node.
func (InterPodAntiAffinityPreferred) Score(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status) {
	var sum int64
	for i := range pod.PreferredAntiAffinity {
		t := &pod.PreferredAntiAffinity[i]
		for _, other := range node.Pods {
			if t.Matches(other.Pod) {
				sum += t.Weight
			}
		}
	}
	for _, other := range node.PodsWithAntiAffinity {
		for i := range other.PreferredAntiAffinity {
			if t := &other.PreferredAntiAffinity[i]; t.Matches(pod.Pod) {
				sum += t.Weight
			}
		}
	}
	return sum, nil
}

// NormalizeScore gives the least repelled node [MaxNodeScore] and the most
// repelled 0.
func (InterPodAntiAffinityPreferred) NormalizeScore(_ context.Context, _ *CycleState, _ *PodInfo, scores []NodeScore) *Status {
	if len(scores) == 0 {
		return nil
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		if hi == lo {
			scores[i].Score = MaxNodeScore
			continue
		}
		scores[i].Score = MaxNodeScore * (hi - scores[i].Score) / (hi - lo)
	}
	return nil
}
