package agent

import (
	"testing"

	"github.com/skiffhq/skiff/agent/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestCgroupResources(t *testing.T) {
	q := resource.MustParse
	cases := []struct {
		name string
		res  corev1.ResourceRequirements
		want runtime.Resources
	}{
		{"nothing", corev1.ResourceRequirements{}, runtime.Resources{}},
		{"requests and limits", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("64Mi")},
		}, runtime.Resources{CPUShares: 102, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 64 << 20}},
		{"a limit alone implies the request", corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceCPU: q("2")},
		}, runtime.Resources{CPUShares: 2048, CPUQuota: 200000, CPUPeriod: 100000}},
		{"tiny request and limit", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("1m")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1m")},
		}, runtime.Resources{CPUShares: 2, CPUQuota: 1000, CPUPeriod: 100000}},
	}
	for _, c := range cases {
		if got := cgroupResources(&corev1.Container{Resources: c.res}); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
