package scheduling

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestPodRequests(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	ctr := func(name, cpu, mem string) corev1.Container {
		rl := corev1.ResourceList{}
		if cpu != "" {
			rl[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			rl[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: rl}}
	}
	sidecar := func(c corev1.Container) corev1.Container { c.RestartPolicy = &always; return c }
	spec := func(init []corev1.Container, ctrs ...corev1.Container) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{InitContainers: init, Containers: ctrs}}
	}
	const mi = 1 << 20
	tests := []struct {
		name              string
		pod               *corev1.Pod
		want, wantNonZero Resource
	}{
		{"no requests", spec(nil, ctr("a", "", "")),
			Resource{Pods: 1}, Resource{MilliCPU: 100, Memory: 200 * mi, Pods: 1}},
		{"containers add up", spec(nil, ctr("a", "100m", "10Mi"), ctr("b", "250m", "20Mi")),
			Resource{350, 30 * mi, 1}, Resource{350, 30 * mi, 1}},
		{"init container larger", spec([]corev1.Container{ctr("i", "2", "1Mi")}, ctr("a", "1", "10Mi")),
			Resource{2000, 10 * mi, 1}, Resource{2000, 10 * mi, 1}},
		{"init containers: the largest counts", spec([]corev1.Container{ctr("i1", "3", ""), ctr("i2", "1", "")}, ctr("a", "1", "")),
			Resource{MilliCPU: 3000, Pods: 1}, Resource{3000, 200 * mi, 1}},
		{"sidecar runs beside the containers", spec([]corev1.Container{sidecar(ctr("s", "500m", "5Mi"))}, ctr("a", "1", "10Mi")),
			Resource{1500, 15 * mi, 1}, Resource{1500, 15 * mi, 1}},
		{"init after a sidecar runs beside it", spec([]corev1.Container{sidecar(ctr("s", "500m", "")), ctr("i", "2", "")}, ctr("a", "1", "")),
			Resource{MilliCPU: 2500, Pods: 1}, Resource{2500, 400 * mi, 1}},
		{"init before a sidecar does not", spec([]corev1.Container{ctr("i", "2", ""), sidecar(ctr("s", "500m", ""))}, ctr("a", "1", "")),
			Resource{MilliCPU: 2000, Pods: 1}, Resource{2000, 400 * mi, 1}},
		{"overhead", func() *corev1.Pod {
			p := spec(nil, ctr("a", "1", "10Mi"))
			p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
			return p
		}(), Resource{1100, 10 * mi, 1}, Resource{1100, 10 * mi, 1}},
		{"pod-level requests replace the sum", func() *corev1.Pod {
			p := spec(nil, ctr("a", "1", "10Mi"), ctr("b", "1", "10Mi"))
			p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("3")}}
			return p
		}(), Resource{3000, 20 * mi, 1}, Resource{3000, 20 * mi, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PodRequests(tt.pod); got != tt.want {
				t.Errorf("PodRequests = %+v, want %+v", got, tt.want)
			}
			if got := PodNonZeroRequests(tt.pod); got != tt.wantNonZero {
				t.Errorf("PodNonZeroRequests = %+v, want %+v", got, tt.wantNonZero)
			}
		})
	}
}
