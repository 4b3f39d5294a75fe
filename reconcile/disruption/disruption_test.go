package disruption

import (
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/reconciletest"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func webPod(name string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "echo"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
}

func budget(name, app string, minAvailable, maxUnavailable *intstr.IntOrString) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Generation: 1},
		Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			MinAvailable: minAvailable, MaxUnavailable: maxUnavailable}}
}

func TestBudgetStatus(t *testing.T) {
	env := reconciletest.NewEnv(t)
	infs := reconcile.NewInformers(env.Store, env.Registry, env.Log)
	rec := &reconciletest.Recorder{}
	c := New(Config{Budgets: infs.For("PodDisruptionBudget"), Pods: infs.For("Pod"), Writer: env.Writer, Recorder: rec,
		Clock: env.Clock, Logger: env.Log})
	env.Run(t, reconcile.Name("informers", infs), reconcile.Name(Name, c))
	for _, p := range []*corev1.Pod{webPod("a", true), webPod("b", true), webPod("c", true), webPod("d", false)} {
		if _, err := env.Writer.Create(env.Ctx, "Pod", p); err != nil {
			t.Fatal(err)
		}
	}
	two, pct := intstr.FromInt32(2), intstr.FromString("50%")
	for _, b := range []*policyv1.PodDisruptionBudget{budget("min2", "web", &two, nil), budget("max50", "web", nil, &pct), budget("nothing", "db", &two, nil)} {
		if _, err := env.Writer.Create(env.Ctx, "PodDisruptionBudget", b); err != nil {
			t.Fatal(err)
		}
	}
	type want struct {
		expected, healthy, desired, allowed int32
		status                              metav1.ConditionStatus
		reason                              string
	}
	cases := map[string]want{
		"min2":    {4, 3, 2, 1, metav1.ConditionTrue, ReasonSufficientPods},
		"max50":   {4, 3, 2, 1, metav1.ConditionTrue, ReasonSufficientPods}, // 4 - ceil(50% of 4)
		"nothing": {0, 0, 2, 0, metav1.ConditionFalse, ReasonInsufficientPods},
	}
	check := func(name string, w want) error {
		rec, err := env.Store.Get(env.Ctx, env.Res("PodDisruptionBudget"), "default", name, true)
		if err != nil {
			return err
		}
		st := rec.Object().(*policyv1.PodDisruptionBudget).Status
		cond := meta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
		if st.ExpectedPods != w.expected || st.CurrentHealthy != w.healthy || st.DesiredHealthy != w.desired ||
			st.DisruptionsAllowed != w.allowed || cond == nil || cond.Status != w.status || cond.Reason != w.reason || st.ObservedGeneration != 1 {
			return fmt.Errorf("%s: status %+v", name, st)
		}
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for name, w := range cases {
		for err := check(name, w); err != nil; err = check(name, w) {
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !rec.Has("Normal NoPods No matching pods found") {
		t.Error("no NoPods event for the budget selecting nothing")
	}
	// A healthy pod leaving takes min2 to its floor: no disruption allowed.
	if err := env.Writer.Delete(env.Ctx, "Pod", "default", "a", storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	for err := check("min2", want{3, 2, 2, 0, metav1.ConditionFalse, ReasonInsufficientPods}); err != nil; err = check("min2", want{3, 2, 2, 0, metav1.ConditionFalse, ReasonInsufficientPods}) {
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
