package envvars

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// PodField returns the value of a downward API field of pod. Paths:
// metadata.name, metadata.namespace, metadata.uid, spec.nodeName,
// spec.serviceAccountName, status.podIP, status.podIPs, status.hostIP,
// status.hostIPs, metadata.labels['key'] and metadata.annotations['key'] (""
// when the key is absent). podIP and hostIP, when not empty, win over the
// pod's status, which may not be published yet when a container starts. Any
// other path is an error wrapping ErrInvalidReference.
func PodField(pod *corev1.Pod, fieldPath, podIP, hostIP string) (string, error) {
	if podIP == "" {
		podIP = pod.Status.PodIP
	}
	if hostIP == "" {
		hostIP = pod.Status.HostIP
	}
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	if key, ok := subscript(fieldPath, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(fieldPath, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	return "", fmt.Errorf("%w: unsupported fieldPath %q", ErrInvalidReference, fieldPath)
}

// subscript parses `<field>['<key>']`.
func subscript(fieldPath, field string) (string, bool) {
	rest, ok := strings.CutPrefix(fieldPath, field+"['")
	if !ok {
		return "", false
	}
	key, ok := strings.CutSuffix(rest, "']")
	if !ok || key == "" {
		return "", false
	}
	return key, true
}

// ResourceField returns the value of a resourceFieldRef: a request or limit
// of the container ref.ContainerName names (c when it names none) in units of
// ref.Divisor (1 when zero), rounded up. A limit the container does not set
// reads allocatable, the node's allocatable resources, and is 0 when that
// lacks it too; a request it does not set is its limit when that is set (as
// Kubernetes defaulting would have made it), else 0. Resources: cpu, memory,
// ephemeral-storage and hugepages-<size>, as limits.<name> or requests.<name>
// (a bare name means its limit).
func ResourceField(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	if ref.ContainerName != "" {
		c = findContainer(pod, ref.ContainerName)
		if c == nil {
			return "", fmt.Errorf("%w: container %q named in resourceFieldRef is not in the pod", ErrInvalidReference, ref.ContainerName)
		}
	}
	if c == nil {
		return "", fmt.Errorf("%w: resourceFieldRef %q names no container", ErrInvalidReference, ref.Resource)
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		kind, name = "limits", ref.Resource
	}
	rname := corev1.ResourceName(name)
	switch {
	case kind != "limits" && kind != "requests",
		rname != corev1.ResourceCPU && rname != corev1.ResourceMemory &&
			rname != corev1.ResourceEphemeralStorage && !strings.HasPrefix(name, corev1.ResourceHugePagesPrefix):
		return "", fmt.Errorf("%w: unsupported resource %q in resourceFieldRef", ErrInvalidReference, ref.Resource)
	}
	limit, hasLimit := c.Resources.Limits[rname]
	var q resource.Quantity
	switch {
	case kind == "requests":
		if r, ok := c.Resources.Requests[rname]; ok {
			q = r
		} else if hasLimit {
			q = limit
		}
	case hasLimit:
		q = limit
	default:
		q = allocatable[rname] // the zero Quantity when absent
	}
	divisor := ref.Divisor
	switch divisor.Sign() {
	case 0:
		divisor = *resource.NewQuantity(1, resource.DecimalSI)
	case -1:
		return "", fmt.Errorf("%w: negative divisor %s in resourceFieldRef %q", ErrInvalidReference, divisor.String(), ref.Resource)
	}
	if rname == corev1.ResourceCPU {
		return strconv.FormatInt(ceilDiv(q.MilliValue(), divisor.MilliValue()), 10), nil
	}
	return strconv.FormatInt(ceilDiv(q.Value(), divisor.Value()), 10), nil
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// ceilDiv divides rounding up; n >= 0, d > 0.
func ceilDiv(n, d int64) int64 {
	if d <= 0 {
		return 0
	}
	q := n / d
	if n%d != 0 {
		q++
	}
	return q
}
