package apis

import corev1 "k8s.io/api/core/v1"

// PodReady reports whether a pod's Ready condition is True: what Services,
// disruption budgets and autoscalers count as a healthy pod.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
