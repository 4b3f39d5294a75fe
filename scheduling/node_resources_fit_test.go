package scheduling

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestNodeResourcesFit(t *testing.T) {
	withInit := func(cpu string) podOpt {
		return func(p *corev1.Pod) {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "init",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse(cpu)}}})
		}
	}
	capacityOnly := func(n *corev1.Node) {
		n.Status.Capacity, n.Status.Allocatable = n.Status.Allocatable, nil
	}
	tests := []struct {
		name string
		node *corev1.Node
		on   []*corev1.Pod
		pod  *corev1.Pod
		want string
	}{
		{"empty node", makeNode("n", "2", "2Gi", 10), nil, makePod("p", requests("1", "1Gi")), ""},
		{"exactly full", makeNode("n", "2", "2Gi", 10), []*corev1.Pod{makePod("a", requests("1", "1Gi"))},
			makePod("p", requests("1", "1Gi")), ""},
		{"cpu short", makeNode("n", "2", "2Gi", 10), []*corev1.Pod{makePod("a", requests("1500m", ""))},
			makePod("p", requests("1", "1Gi")), "Unschedulable: Insufficient cpu"},
		{"memory short", makeNode("n", "2", "2Gi", 10), []*corev1.Pod{makePod("a", requests("", "1500Mi"))},
			makePod("p", requests("1", "1Gi")), "Unschedulable: Insufficient memory"},
		{"both short", makeNode("n", "1", "1Gi", 10), nil,
			makePod("p", requests("2", "2Gi")), "Unschedulable: Insufficient cpu, Insufficient memory"},
		{"pod count", makeNode("n", "2", "2Gi", 1), []*corev1.Pod{makePod("a")},
			makePod("p"), "Unschedulable: Too many pods"},
		{"no requests fit a full node", makeNode("n", "1", "1Gi", 10), []*corev1.Pod{makePod("a", requests("1", "1Gi"))},
			makePod("p"), ""},
		{"init container larger than the containers", makeNode("n", "2", "2Gi", 10), nil,
			makePod("p", requests("1", ""), withInit("3")), "Unschedulable: Insufficient cpu"},
		{"capacity when no allocatable", makeNode("n", "2", "2Gi", 10, capacityOnly), nil,
			makePod("p", requests("1", "1Gi")), ""},
		{"node reports no pods capacity", makeNode("n", "2", "2Gi", 0), nil,
			makePod("p"), "Unschedulable: Too many pods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filterResult(NodeResourcesFit{}, tt.pod, nodeWith(tt.node, tt.on...)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
