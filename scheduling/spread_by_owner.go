package scheduling

import (
	"context"
	"math"

	"k8s.io/apimachinery/pkg/types"
)

// SpreadByOwnerName names the [SpreadByOwner] score.
const SpreadByOwnerName = "SpreadByOwner"

// SpreadByOwner spreads the pods of one controller (the ownerReference with
// controller: true): the fewer of its pods a node holds, the higher the
// node scores. When nodes carry topology.kubernetes.io/zone, the zone's
// count weighs two thirds and the node's one third, so replicas spread over
// zones first and over the nodes of a zone next. Pods without a controller
// are left to the other scores.
type SpreadByOwner struct{}

var (
	_ ScorePlugin     = SpreadByOwner{}
	_ PreScorePlugin  = SpreadByOwner{}
	_ ScoreNormalizer = SpreadByOwner{}
)

// zoneWeighting is the share of the score that comes from the zone.
const zoneWeighting = 2.0 / 3.0

// Name returns [SpreadByOwnerName].
func (SpreadByOwner) Name() string { return SpreadByOwnerName }

// PreScore skips pods without a controller.
func (SpreadByOwner) PreScore(_ context.Context, _ *CycleState, pod *PodInfo, _ []*NodeInfo) *Status {
	if pod.Owner == "" {
		return NewStatus(Skip)
	}
	return nil
}

// Score returns how many pods of the pod's controller the node holds; the
// normalizer turns counts into scores.
func (SpreadByOwner) Score(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status) {
	return int64(node.OwnerCounts[pod.Owner]), nil
}

// NormalizeScore scores each node by how far its count (and its zone's)
// lies below the highest count among the feasible nodes.
func (SpreadByOwner) NormalizeScore(_ context.Context, state *CycleState, pod *PodInfo, scores []NodeScore) *Status {
	var zones zoneCounts
	zoned := state.Snapshot != nil && state.Snapshot.HasZones()
	var maxNode, maxZone int64
	for _, s := range scores {
		maxNode = max(maxNode, s.Score)
		if zoned && s.Node.Zone != "" {
			maxZone = max(maxZone, zones.get(state.Snapshot, s.Node.Zone, pod.Owner))
		}
	}
	for i := range scores {
		score := float64(MaxNodeScore)
		if maxNode > 0 {
			score = float64(MaxNodeScore*(maxNode-scores[i].Score)) / float64(maxNode)
		}
		if zone := scores[i].Node.Zone; zoned && zone != "" {
			zoneScore := float64(MaxNodeScore)
			if maxZone > 0 {
				c := zones.get(state.Snapshot, zone, pod.Owner)
				zoneScore = float64(MaxNodeScore*(maxZone-c)) / float64(maxZone)
			}
			score = score*(1-zoneWeighting) + zoneScore*zoneWeighting
		}
		scores[i].Score = int64(math.Round(score))
	}
	return nil
}

// zoneCounts caches the owner's count per zone for one normalization:
// clusters have few zones, so a short list beats hashing per node.
type zoneCounts []struct {
	zone  string
	count int64
}

func (z *zoneCounts) get(snap *Snapshot, zone string, owner types.UID) int64 {
	for _, e := range *z {
		if e.zone == zone {
			return e.count
		}
	}
	c := int64(snap.ZoneOwnerCount(zone, owner))
	*z = append(*z, struct {
		zone  string
		count int64
	}{zone, c})
	return c
}
