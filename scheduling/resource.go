package scheduling

import (
	corev1 "k8s.io/api/core/v1"
)

// Defaults the scorers assume for a container that requests no CPU or no
// memory, so that pods without requests still spread by load. Filters never
// use them: a pod without requests fits anywhere.
const (
	DefaultMilliCPURequest int64 = 100               // 0.1 core
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// Resource is an amount of the resources the scheduler accounts for.
type Resource struct {
	MilliCPU int64
	Memory   int64 // bytes
	Pods     int64
}

// Add adds o to r.
func (r *Resource) Add(o Resource) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.Pods += o.Pods
}

// Sub subtracts o from r.
func (r *Resource) Sub(o Resource) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.Pods -= o.Pods
}

func (r *Resource) maxWith(o Resource) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.Pods = max(r.Pods, o.Pods)
}

// ResourceFromList reads CPU, memory and pods out of a resource list.
func ResourceFromList(rl corev1.ResourceList) Resource {
	var r Resource
	if q, ok := rl[corev1.ResourceCPU]; ok {
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := rl[corev1.ResourceMemory]; ok {
		r.Memory = q.Value()
	}
	if q, ok := rl[corev1.ResourcePods]; ok {
		r.Pods = q.Value()
	}
	return r
}

// containerRequests reads a container's requests; with nonZero, missing CPU
// and memory requests count as the defaults.
func containerRequests(c *corev1.Container, nonZero bool) Resource {
	r := ResourceFromList(c.Resources.Requests)
	if nonZero {
		if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
			r.MilliCPU = DefaultMilliCPURequest
		}
		if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
			r.Memory = DefaultMemoryRequest
		}
	}
	r.Pods = 0
	return r
}

// PodRequests is the CPU and memory a pod reserves on its node, by
// Kubernetes' effective-request rule: the larger of (the regular containers
// plus every sidecar) and, for each init container in order, that container
// plus the sidecars started before it; plus the pod overhead. Pod-level
// requests (spec.resources), when set, replace the containers' sum. Pods is
// always 1.
func PodRequests(pod *corev1.Pod) Resource {
	return podRequests(pod, false)
}

// PodNonZeroRequests is [PodRequests] with the defaults for containers
// that request no CPU or memory; the scorers use it.
func PodNonZeroRequests(pod *corev1.Pod) Resource {
	return podRequests(pod, true)
}

func podRequests(pod *corev1.Pod, nonZero bool) Resource {
	var sum Resource
	for i := range pod.Spec.Containers {
		sum.Add(containerRequests(&pod.Spec.Containers[i], nonZero))
	}
	var sidecars, initMax Resource
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		req := containerRequests(c, nonZero)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			// A sidecar keeps running next to everything started after it.
			sidecars.Add(req)
			sum.Add(req)
			initMax.maxWith(sidecars)
			continue
		}
		req.Add(sidecars)
		initMax.maxWith(req)
	}
	sum.maxWith(initMax)
	if pr := pod.Spec.Resources; pr != nil {
		level := ResourceFromList(pr.Requests)
		if _, ok := pr.Requests[corev1.ResourceCPU]; ok {
			sum.MilliCPU = level.MilliCPU
		}
		if _, ok := pr.Requests[corev1.ResourceMemory]; ok {
			sum.Memory = level.Memory
		}
	}
	overhead := ResourceFromList(pod.Spec.Overhead)
	overhead.Pods = 0
	sum.Add(overhead)
	sum.Pods = 1
	return sum
}
