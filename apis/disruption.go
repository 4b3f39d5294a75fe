package apis

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// BudgetHealth counts a PodDisruptionBudget's pods, as the eviction API
// and the disruption controller both must: expected are the selected pods
// that have not finished, healthy those of them that are Ready and not
// being deleted, desired how many healthy pods the budget keeps
// (minAvailable, or expected minus maxUnavailable; percentages of
// expected, rounded up). A pod being deleted still counts as expected but
// no longer as healthy: two evictions in a row cannot both spend the one
// disruption maxUnavailable 1 allows.
func BudgetHealth(b *policyv1.PodDisruptionBudget, selected []*corev1.Pod) (expected, healthy, desired int, err error) {
	for _, p := range selected {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		expected++
		if p.DeletionTimestamp == nil && PodReady(p) {
			healthy++
		}
	}
	scaled := func(v *intstr.IntOrString) (int, error) {
		if v.Type == intstr.Int {
			return int(v.IntVal), nil
		}
		n, err := intstr.GetScaledValueFromIntOrPercent(v, 100, true)
		if err != nil {
			return 0, err
		}
		return int(math.Ceil(float64(n) * float64(expected) / 100)), nil
	}
	switch {
	case b.Spec.MinAvailable != nil:
		desired, err = scaled(b.Spec.MinAvailable)
	case b.Spec.MaxUnavailable != nil:
		var n int
		n, err = scaled(b.Spec.MaxUnavailable)
		desired = max(expected-n, 0)
	}
	return expected, healthy, desired, err
}
