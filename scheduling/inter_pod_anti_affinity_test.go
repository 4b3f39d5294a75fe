package scheduling

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestInterPodAntiAffinityPreferred(t *testing.T) {
	host := corev1.LabelHostname
	nodes := []*corev1.Node{makeNode("a", "1", "1Gi", 10), makeNode("b", "1", "1Gi", 10), makeNode("c", "1", "1Gi", 10)}
	web := func(name, node string) *corev1.Pod { return makePod(name, podLabels("app", "web"), boundTo(node)) }
	tests := []struct {
		name string
		pods []*corev1.Pod
		pod  *corev1.Pod
		want map[string]int64
	}{
		{"no anti-affinity anywhere: skipped", []*corev1.Pod{web("w1", "a")}, makePod("p"), nil},
		{"avoid nodes with matching pods", []*corev1.Pod{web("w1", "a"), web("w2", "a"), web("w3", "b")},
			makePod("p", antiAffinity(50, host, map[string]string{"app": "web"})),
			map[string]int64{"a": 0, "b": 50, "c": 100}},
		{"every node repels alike", []*corev1.Pod{web("w1", "a"), web("w2", "b"), web("w3", "c")},
			makePod("p", antiAffinity(50, host, map[string]string{"app": "web"})),
			map[string]int64{"a": 100, "b": 100, "c": 100}},
		{"other namespaces do not count", []*corev1.Pod{
			makePod("w1", podLabels("app", "web"), boundTo("a"), func(p *corev1.Pod) { p.Namespace = "other" })},
			makePod("p", antiAffinity(50, host, map[string]string{"app": "web"})),
			map[string]int64{"a": 100, "b": 100, "c": 100}},
		{"other topology keys are ignored", []*corev1.Pod{web("w1", "a")},
			makePod("p", antiAffinity(50, LabelZone, map[string]string{"app": "web"})), nil},
		{"symmetric: existing pods repel the newcomer",
			[]*corev1.Pod{makePod("x", boundTo("b"), antiAffinity(20, host, map[string]string{"app": "web"}))},
			makePod("p", podLabels("app", "web")),
			map[string]int64{"a": 100, "b": 0, "c": 100}},
		{"namespace selector {} means every namespace", []*corev1.Pod{
			makePod("w1", podLabels("app", "web"), boundTo("a"), func(p *corev1.Pod) { p.Namespace = "other" })},
			makePod("p", antiAffinity(50, host, map[string]string{"app": "web"}), func(p *corev1.Pod) {
				p.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].
					PodAffinityTerm.NamespaceSelector = &metav1.LabelSelector{}
			}),
			map[string]int64{"a": 0, "b": 100, "c": 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scoreNodes(t, InterPodAntiAffinityPreferred{}, NewSnapshot(nodes, tt.pods), tt.pod)
			if !maps.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
