package scheduling

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestLeastAllocated(t *testing.T) {
	tests := []struct {
		name string
		node *corev1.Node
		on   []*corev1.Pod
		pod  *corev1.Pod
		want int64
	}{
		{"empty node, small pod", makeNode("n", "4", "4Gi", 10), nil, makePod("p", requests("1", "1Gi")), 75},
		{"half used", makeNode("n", "4", "4Gi", 10), []*corev1.Pod{makePod("a", requests("2", "2Gi"))},
			makePod("p", requests("1", "1Gi")), 25},
		{"cpu and memory averaged", makeNode("n", "4", "4Gi", 10), nil, makePod("p", requests("4", "2Gi")), 25},
		{"full", makeNode("n", "4", "4Gi", 10), []*corev1.Pod{makePod("a", requests("4", "4Gi"))},
			makePod("p", requests("1", "1Gi")), 0},
		{"no requests count at the defaults", makeNode("n", "1", "1000Mi", 10), nil, makePod("p"), (90 + 80) / 2},
		{"node without allocatable", makeNode("n", "0", "0", 10), nil, makePod("p", requests("1", "1Gi")), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st := LeastAllocated{}.Score(context.Background(), NewCycleState(nil), NewPodInfo(tt.pod), nodeWith(tt.node, tt.on...))
			if !st.IsSuccess() || got != tt.want {
				t.Errorf("got %d (%v), want %d", got, st.Err(), tt.want)
			}
		})
	}
}
