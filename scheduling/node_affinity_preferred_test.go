package scheduling

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNodeAffinityPreferred(t *testing.T) {
	in := corev1.NodeSelectorOpIn
	nodes := []*corev1.Node{
		makeNode("ssd-a", "1", "1Gi", 10, nodeLabels("disk", "ssd", "zone", "a")),
		makeNode("ssd-b", "1", "1Gi", 10, nodeLabels("disk", "ssd", "zone", "b")),
		makeNode("hdd-a", "1", "1Gi", 10, nodeLabels("disk", "hdd", "zone", "a")),
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want map[string]int64
	}{
		{"no preferences: skipped", makePod("p"), nil},
		{"one term", makePod("p", preferredTerm(10, term(expr("disk", in, "ssd")))),
			map[string]int64{"ssd-a": 100, "ssd-b": 100, "hdd-a": 0}},
		{"weights add up", makePod("p", preferredTerm(30, term(expr("disk", in, "ssd"))), preferredTerm(10, term(expr("zone", in, "a")))),
			map[string]int64{"ssd-a": 100, "ssd-b": 75, "hdd-a": 25}},
		{"nothing matches", makePod("p", preferredTerm(10, term(expr("disk", in, "nvme")))),
			map[string]int64{"ssd-a": 0, "ssd-b": 0, "hdd-a": 0}},
		{"zero weight ignored", makePod("p", preferredTerm(0, term(expr("disk", in, "ssd")))), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scoreNodes(t, NodeAffinityPreferred{}, NewSnapshot(nodes, nil), tt.pod)
			if !maps.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
