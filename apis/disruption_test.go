package apis

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestBudgetHealth(t *testing.T) {
	pod := func(ready, deleting bool, phase corev1.PodPhase) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
		if deleting {
			p.DeletionTimestamp = &metav1.Time{}
		}
		return p
	}
	ready, unready := pod(true, false, corev1.PodRunning), pod(false, false, corev1.PodRunning)
	evicted, done := pod(true, true, corev1.PodRunning), pod(false, false, corev1.PodSucceeded)
	one, half, two := intstr.FromInt32(1), intstr.FromString("50%"), intstr.FromInt32(2)
	maxUnavailable := func(v intstr.IntOrString) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &v}}
	}
	minAvailable := func(v intstr.IntOrString) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &v}}
	}
	cases := []struct {
		name                      string
		b                         *policyv1.PodDisruptionBudget
		pods                      []*corev1.Pod
		expected, healthy, desire int
	}{
		{"maxUnavailable 1 of 3", maxUnavailable(one), []*corev1.Pod{ready, ready, ready}, 3, 3, 2},
		// The first eviction's pod is still going: no second one.
		{"maxUnavailable 1, one being evicted", maxUnavailable(one), []*corev1.Pod{evicted, ready, ready}, 3, 2, 2},
		{"finished pods do not count", maxUnavailable(one), []*corev1.Pod{done, ready, ready}, 2, 2, 1},
		{"unready pods are expected, not healthy", minAvailable(two), []*corev1.Pod{unready, ready, ready}, 3, 2, 2},
		{"percentages of expected, rounded up", minAvailable(half), []*corev1.Pod{ready, ready, ready}, 3, 3, 2},
		{"no pods", minAvailable(one), nil, 0, 0, 1},
	}
	for _, c := range cases {
		e, h, d, err := BudgetHealth(c.b, c.pods)
		if err != nil || e != c.expected || h != c.healthy || d != c.desire {
			t.Errorf("%s: expected %d healthy %d desired %d (%v), want %d %d %d", c.name, e, h, d, err, c.expected, c.healthy, c.desire)
		}
	}
}
