package scheduling

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestHostPorts(t *testing.T) {
	const conflict = "Unschedulable: " + ReasonHostPortConflict
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	tests := []struct {
		name string
		on   []*corev1.Pod
		pod  *corev1.Pod
		want string
	}{
		{"no ports", []*corev1.Pod{makePod("a", hostPort(80, tcp, ""))}, makePod("p"), ""},
		{"free port", []*corev1.Pod{makePod("a", hostPort(80, tcp, ""))}, makePod("p", hostPort(81, tcp, "")), ""},
		{"same port", []*corev1.Pod{makePod("a", hostPort(80, tcp, ""))}, makePod("p", hostPort(80, tcp, "")), conflict},
		{"protocol defaults to TCP", []*corev1.Pod{makePod("a", hostPort(80, "", ""))}, makePod("p", hostPort(80, tcp, "")), conflict},
		{"other protocol", []*corev1.Pod{makePod("a", hostPort(53, tcp, ""))}, makePod("p", hostPort(53, udp, "")), ""},
		{"different host IPs", []*corev1.Pod{makePod("a", hostPort(80, tcp, "10.0.0.1"))}, makePod("p", hostPort(80, tcp, "10.0.0.2")), ""},
		{"same host IP", []*corev1.Pod{makePod("a", hostPort(80, tcp, "10.0.0.1"))}, makePod("p", hostPort(80, tcp, "10.0.0.1")), conflict},
		{"wildcard vs specific", []*corev1.Pod{makePod("a", hostPort(80, tcp, "10.0.0.1"))}, makePod("p", hostPort(80, tcp, "")), conflict},
		{"specific vs wildcard", []*corev1.Pod{makePod("a", hostPort(80, tcp, "0.0.0.0"))}, makePod("p", hostPort(80, tcp, "10.0.0.1")), conflict},
		{"container port without host port", []*corev1.Pod{makePod("a", hostPort(80, tcp, ""))},
			makePod("p", func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80}}
			}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filterResult(HostPorts{}, tt.pod, nodeWith(makeNode("n", "1", "1Gi", 10), tt.on...)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHostPortsFreedWhenPodLeaves(t *testing.T) {
	ni := nodeWith(makeNode("n", "1", "1Gi", 10),
		makePod("a", hostPort(80, corev1.ProtocolTCP, "")), makePod("b", hostPort(80, corev1.ProtocolTCP, "10.0.0.1")))
	p := makePod("p", hostPort(80, corev1.ProtocolTCP, "10.0.0.2"))
	if got := filterResult(HostPorts{}, p, ni); got == "" {
		t.Fatal("port 80 on 0.0.0.0 in use, want a conflict")
	}
	ni.RemovePod("a")
	if got := filterResult(HostPorts{}, p, ni); got != "" {
		t.Fatalf("after a left: %q, want no conflict", got)
	}
	if got := filterResult(HostPorts{}, makePod("q", hostPort(80, corev1.ProtocolTCP, "10.0.0.1")), ni); got == "" {
		t.Fatal("10.0.0.1:80 still used by b, want a conflict")
	}
}
