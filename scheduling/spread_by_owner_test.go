package scheduling

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSpreadByOwner(t *testing.T) {
	n := func(name string, opts ...nodeOpt) *corev1.Node { return makeNode(name, "4", "4Gi", 10, opts...) }
	zone := func(z string) nodeOpt { return nodeLabels(LabelZone, z) }
	rs := func(name, node string) *corev1.Pod { return makePod(name, ownedBy("rs1"), boundTo(node)) }
	tests := []struct {
		name  string
		nodes []*corev1.Node
		pods  []*corev1.Pod
		pod   *corev1.Pod
		want  map[string]int64 // nil: skipped
	}{
		{"no controller: skipped", []*corev1.Node{n("a"), n("b")}, []*corev1.Pod{rs("x", "a")}, makePod("p"), nil},
		{"none placed yet", []*corev1.Node{n("a"), n("b")}, nil, makePod("p", ownedBy("rs1")),
			map[string]int64{"a": 100, "b": 100}},
		{"fewer scores higher", []*corev1.Node{n("a"), n("b"), n("c")},
			[]*corev1.Pod{rs("x1", "a"), rs("x2", "a"), rs("x3", "b")}, makePod("p", ownedBy("rs1")),
			map[string]int64{"a": 0, "b": 50, "c": 100}},
		{"other owners do not count", []*corev1.Node{n("a"), n("b")},
			[]*corev1.Pod{rs("x1", "a"), makePod("y1", ownedBy("rs2"), boundTo("b")), makePod("y2", ownedBy("rs2"), boundTo("b"))},
			makePod("p", ownedBy("rs1")), map[string]int64{"a": 0, "b": 100}},
		{"zones weigh two thirds", []*corev1.Node{n("a1", zone("a")), n("a2", zone("a")), n("b1", zone("b"))},
			[]*corev1.Pod{rs("x1", "a1")}, makePod("p", ownedBy("rs1")),
			// a1: node 0, zone 0; a2: node 100, zone 0; b1: node 100, zone 100.
			map[string]int64{"a1": 0, "a2": 33, "b1": 100}},
		{"the zone wins over the node", []*corev1.Node{n("a1", zone("a")), n("a2", zone("a")), n("b1", zone("b"))},
			[]*corev1.Pod{rs("x1", "a1"), rs("x2", "a2"), rs("x3", "b1"), rs("x4", "b1")}, makePod("p", ownedBy("rs1")),
			// counts a1 1, a2 1, b1 2; zones a 2, b 2.
			map[string]int64{"a1": 17, "a2": 17, "b1": 0}},
		{"nodes without a zone use the node count", []*corev1.Node{n("a1", zone("a")), n("x")},
			[]*corev1.Pod{rs("x1", "a1")}, makePod("p", ownedBy("rs1")),
			map[string]int64{"a1": 0, "x": 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scoreNodes(t, SpreadByOwner{}, NewSnapshot(tt.nodes, tt.pods), tt.pod)
			if !maps.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
