package scheduling

import (
	"context"
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNewPipelineRefusesBadPlugins(t *testing.T) {
	if _, err := NewPipeline(DefaultFilters(), DefaultScores()); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := map[string]func() (*Pipeline, error){
		"duplicate filter": func() (*Pipeline, error) { return NewPipeline([]FilterPlugin{NodeReady{}, NodeReady{}}, nil) },
		"nil filter":       func() (*Pipeline, error) { return NewPipeline([]FilterPlugin{nil}, nil) },
		"zero weight":      func() (*Pipeline, error) { return NewPipeline(nil, []WeightedScore{{LeastAllocated{}, 0}}) },
		"nil score":        func() (*Pipeline, error) { return NewPipeline(nil, []WeightedScore{{nil, 1}}) },
	}
	for name, f := range bad {
		if _, err := f(); !errors.Is(err, ErrBadPipeline) {
			t.Errorf("%s: err = %v, want ErrBadPipeline", name, err)
		}
	}
}

func TestFitErrorMessages(t *testing.T) {
	db := nodeTaint("dedicated", "db", corev1.TaintEffectNoSchedule)
	tests := []struct {
		name  string
		nodes []*corev1.Node
		pods  []*corev1.Pod
		pod   *corev1.Pod
		want  string
	}{
		{"the issue's example",
			[]*corev1.Node{makeNode("n1", "4", "1Gi", 10), makeNode("n2", "4", "1Gi", 10), makeNode("n3", "4", "8Gi", 10, db)},
			nil, makePod("p", requests("1", "2Gi")),
			"0/3 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {dedicated: db}."},
		{"the first refusing filter is the reason",
			[]*corev1.Node{makeNode("n1", "1", "1Gi", 10, db, nodeCordoned)}, nil, makePod("p", requests("2", "")),
			"0/1 nodes are available: 1 node(s) were unschedulable."},
		{"one filter, several reasons",
			[]*corev1.Node{makeNode("n1", "1", "1Gi", 10), makeNode("n2", "1", "8Gi", 10)}, nil, makePod("p", requests("2", "2Gi")),
			"0/2 nodes are available: 2 Insufficient cpu, 1 Insufficient memory."},
		{"equal counts in alphabetical order",
			[]*corev1.Node{makeNode("n1", "1", "1Gi", 10, nodeReady(corev1.ConditionFalse)), makeNode("n2", "1", "1Gi", 0),
				makeNode("n3", "1", "1Gi", 10, nodeLabels("disk", "hdd")),
				makeNode("n4", "1", "1Gi", 10, nodeLabels("disk", "ssd"))},
			[]*corev1.Pod{makePod("x", hostPort(80, corev1.ProtocolTCP, ""), boundTo("n4"))},
			makePod("p", nodeSelector("disk", "ssd"), hostPort(80, corev1.ProtocolTCP, "")),
			"0/4 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 1 node(s) didn't have free ports for the requested pod ports, 1 node(s) were not ready."},
		{"no nodes", nil, nil, makePod("p"), "0/0 nodes are available: no nodes registered."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, fitErr := DefaultPipeline().Schedule(context.Background(), NewSnapshot(tt.nodes, tt.pods), NewPodInfo(tt.pod))
			if fitErr == nil {
				t.Fatalf("scheduled on %s, want a FitError", node)
			}
			if got := fitErr.Error(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestFitErrorPlugins(t *testing.T) {
	nodes := []*corev1.Node{makeNode("n1", "1", "1Gi", 10), makeNode("n2", "1", "1Gi", 10, nodeLabels("disk", "ssd"))}
	_, fitErr := DefaultPipeline().Schedule(context.Background(), NewSnapshot(nodes, nil),
		NewPodInfo(makePod("p", nodeSelector("disk", "ssd"), requests("2", ""))))
	if fitErr == nil || !fitErr.Plugins.Equal(setOf(NodeSelectorName, NodeResourcesFitName)) {
		t.Fatalf("plugins = %v", fitErr)
	}
}

func TestScheduleChoosesBestScore(t *testing.T) {
	nodes := []*corev1.Node{makeNode("busy", "4", "4Gi", 10), makeNode("idle", "4", "4Gi", 10), makeNode("ssd", "4", "4Gi", 10, nodeLabels("disk", "ssd"))}
	pods := []*corev1.Pod{makePod("x", requests("3", "3Gi"), boundTo("busy")), makePod("y", requests("1", "1Gi"), boundTo("ssd"))}
	snap := NewSnapshot(nodes, pods)
	ctx := context.Background()
	if got, fitErr := DefaultPipeline().Schedule(ctx, snap, NewPodInfo(makePod("p", requests("1", "1Gi")))); fitErr != nil || got != "idle" {
		t.Errorf("least allocated: got %q (%v), want idle", got, fitErr)
	}
	pref := makePod("p", requests("1", "1Gi"), preferredTerm(10, term(expr("disk", corev1.NodeSelectorOpIn, "ssd"))))
	if got, fitErr := DefaultPipeline().Schedule(ctx, snap, NewPodInfo(pref)); fitErr != nil || got != "ssd" {
		t.Errorf("preferred affinity: got %q (%v), want ssd", got, fitErr)
	}
}

func TestScheduleTiesAreDeterministicAndSpread(t *testing.T) {
	var nodes []*corev1.Node
	for i := range 4 {
		nodes = append(nodes, makeNode(fmt.Sprintf("n%d", i), "4", "4Gi", 10))
	}
	snap := NewSnapshot(nodes, nil)
	p := DefaultPipeline()
	seen := map[string]int{}
	for i := range 200 {
		pi := NewPodInfo(makePod(fmt.Sprintf("p%d", i)))
		first, fitErr := p.Schedule(context.Background(), snap, pi)
		if fitErr != nil {
			t.Fatal(fitErr)
		}
		if again, _ := p.Schedule(context.Background(), snap, pi); again != first {
			t.Fatalf("pod %d: %s then %s", i, first, again)
		}
		seen[first]++
	}
	for _, n := range nodes {
		if seen[n.Name] < 20 {
			t.Errorf("ties not spread: %v", seen)
		}
	}
}

type failingScore struct{}

func (failingScore) Name() string { return "Failing" }
func (failingScore) Score(context.Context, *CycleState, *PodInfo, *NodeInfo) (int64, *Status) {
	return 0, AsStatus(errors.New("boom"))
}

type erroringFilter struct{}

func (erroringFilter) Name() string { return "Erroring" }
func (erroringFilter) Filter(context.Context, *CycleState, *PodInfo, *NodeInfo) *Status {
	return AsStatus(errors.New("no data"))
}

func TestSchedulePluginErrors(t *testing.T) {
	snap := NewSnapshot([]*corev1.Node{makeNode("a", "1", "1Gi", 10), makeNode("b", "1", "1Gi", 10)}, nil)
	ctx := context.Background()

	p, err := NewPipeline(DefaultFilters(), []WeightedScore{{failingScore{}, 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, fitErr := p.Schedule(ctx, snap, NewPodInfo(makePod("p")))
	if fitErr == nil || fitErr.Err == nil || fitErr.Error() != "0/2 nodes are available: Failing score of node a: boom." {
		t.Errorf("score error: %v", fitErr)
	}

	p, err = NewPipeline([]FilterPlugin{erroringFilter{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, fitErr = p.Schedule(ctx, snap, NewPodInfo(makePod("p")))
	if fitErr == nil || fitErr.Err == nil || fitErr.Error() != "0/2 nodes are available: 2 no data." {
		t.Errorf("filter error: %v", fitErr)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, fitErr := DefaultPipeline().Schedule(cancelled, snap, NewPodInfo(makePod("p"))); fitErr == nil || !errors.Is(fitErr, context.Canceled) {
		t.Errorf("cancelled: %v", fitErr)
	}
}

func TestDefaultPipelineOrder(t *testing.T) {
	// The README's table lists the same plugins in this order.
	p := DefaultPipeline()
	var got []string
	for _, f := range p.Filters() {
		got = append(got, f.Name())
	}
	for _, s := range p.Scores() {
		got = append(got, fmt.Sprintf("%s×%d", s.Plugin.Name(), s.Weight))
	}
	want := "[NodeReady NodeSelector TaintToleration HostPorts NodeResourcesFit SpreadByOwner×2 LeastAllocated×1 NodeAffinityPreferred×2 InterPodAntiAffinityPreferred×2]"
	if fmt.Sprint(got) != want {
		t.Errorf("default pipeline %v\nwant %s", got, want)
	}
}

// tenantGate is a filter with a PreFilter: it reads the pod's tenant once
// and keeps it in the cycle state for every node.
type tenantGate struct{}

const tenantKey StateKey = "tenantGate"

func (tenantGate) Name() string { return "TenantGate" }
func (tenantGate) PreFilter(_ context.Context, state *CycleState, pod *PodInfo) *Status {
	tenant := pod.Pod.Labels["tenant"]
	if tenant == "" {
		return NewStatus(Unschedulable, "pod has no tenant")
	}
	state.Write(tenantKey, tenant)
	return nil
}
func (tenantGate) Filter(_ context.Context, state *CycleState, _ *PodInfo, node *NodeInfo) *Status {
	v, ok := state.Read(tenantKey)
	if !ok {
		return AsStatus(errors.New("PreFilter did not run"))
	}
	if node.Node.Labels["tenant"] != v.(string) {
		return NewStatus(Unschedulable, "node(s) belong to another tenant")
	}
	return nil
}

func TestPreFilter(t *testing.T) {
	p, err := NewPipeline([]FilterPlugin{tenantGate{}}, DefaultScores())
	if err != nil {
		t.Fatal(err)
	}
	snap := NewSnapshot([]*corev1.Node{
		makeNode("a", "1", "1Gi", 10, nodeLabels("tenant", "x")),
		makeNode("b", "1", "1Gi", 10, nodeLabels("tenant", "y")),
		makeNode("c", "1", "1Gi", 10, nodeLabels("tenant", "y")),
	}, nil)
	ctx := context.Background()
	if node, fitErr := p.Schedule(ctx, snap, NewPodInfo(makePod("p", podLabels("tenant", "x")))); fitErr != nil || node != "a" {
		t.Errorf("got %q, %v", node, fitErr)
	}
	_, fitErr := p.Schedule(ctx, snap, NewPodInfo(makePod("p", podLabels("tenant", "z"))))
	if fitErr == nil || fitErr.Error() != "0/3 nodes are available: 3 node(s) belong to another tenant." {
		t.Errorf("other tenant: %v", fitErr)
	}
	_, fitErr = p.Schedule(ctx, snap, NewPodInfo(makePod("p")))
	if fitErr == nil || fitErr.Error() != "0/3 nodes are available: 3 pod has no tenant." || !fitErr.Plugins.Has("TenantGate") {
		t.Errorf("no tenant: %v", fitErr)
	}
}
