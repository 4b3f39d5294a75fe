package scheduling

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNodesToFind(t *testing.T) {
	for _, c := range []struct{ nodes, want int }{
		{1, 1}, {50, 50}, {100, 100}, {101, 100}, {200, 100}, {500, 230}, {1000, 420}, {5000, 500}, {10000, 500},
	} {
		if got := NodesToFind(c.nodes); got != c.want {
			t.Errorf("NodesToFind(%d) = %d, want %d", c.nodes, got, c.want)
		}
	}
}

// countingFilter passes every node and counts the calls per node.
type countingFilter map[string]int

func (countingFilter) Name() string { return "Counting" }
func (c countingFilter) Filter(_ context.Context, _ *CycleState, _ *PodInfo, n *NodeInfo) *Status {
	c[n.Name]++
	return nil
}

// An attempt in a 1000-node cluster stops after 420 feasible nodes; the
// next one goes on where it stopped, so every node gets its turn. A pod
// that fits nowhere still hears about every node.
func TestScheduleStopsAtNodesToFindAndRotates(t *testing.T) {
	var nodes []*corev1.Node
	for i := range 1000 {
		nodes = append(nodes, makeNode(fmt.Sprintf("n%04d", i), "4", "8Gi", 110))
	}
	snap := NewSnapshot(nodes, nil)
	counts := countingFilter{}
	p, err := NewPipeline([]FilterPlugin{counts}, DefaultScores())
	if err != nil {
		t.Fatal(err)
	}
	if _, fitErr := p.Schedule(context.Background(), snap, NewPodInfo(makePod("a"))); fitErr != nil {
		t.Fatal(fitErr)
	}
	if len(counts) != 420 {
		t.Fatalf("the first attempt filtered %d nodes, want 420", len(counts))
	}
	for _, name := range []string{"b", "c"} {
		if _, fitErr := p.Schedule(context.Background(), snap, NewPodInfo(makePod(name))); fitErr != nil {
			t.Fatal(fitErr)
		}
	}
	if len(counts) != 1000 {
		t.Fatalf("three attempts looked at %d distinct nodes, want all 1000", len(counts))
	}
	_, fitErr := DefaultPipeline().Schedule(context.Background(), snap, NewPodInfo(makePod("huge", func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	})))
	if fitErr == nil || fitErr.Reasons[ReasonNodeSelectorMismatch] != 1000 {
		t.Fatalf("an unschedulable pod: %v", fitErr)
	}
}
