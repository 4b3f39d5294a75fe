package hpa

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/reconciletest"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// fakeMetrics reports a fixed CPU use per pod.
type fakeMetrics struct {
	mu  sync.Mutex
	cpu map[string]string
}

func (f *fakeMetrics) PodUsage(_ context.Context, _ string) (map[string]corev1.ResourceList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]corev1.ResourceList{}
	for pod, v := range f.cpu {
		out[pod] = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(v), corev1.ResourceMemory: resource.MustParse("10Mi")}
	}
	return out, nil
}

func TestControllerScalesADeployment(t *testing.T) {
	env := reconciletest.NewEnv(t)
	infs := reconcile.NewInformers(env.Store, env.Registry, env.Log)
	metrics := &fakeMetrics{cpu: map[string]string{"web-0": "180m", "web-1": "180m"}}
	rec := &reconciletest.Recorder{}
	c := New(Config{Autoscalers: infs.For("HorizontalPodAutoscaler"), Deployments: infs.For("Deployment"), ReplicaSets: infs.For("ReplicaSet"),
		Pods: infs.For("Pod"), Metrics: metrics, Writer: env.Writer, Recorder: rec, Clock: env.Clock, Logger: env.Log})
	ctx := env.Ctx
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "echo"}}}}}}
	if _, err := env.Writer.Create(ctx, "Deployment", d); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: "default", Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "echo",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}}
		obj, err := env.Writer.Create(ctx, "Pod", p)
		if err != nil {
			t.Fatal(err)
		}
		p = obj.(*corev1.Pod)
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if _, err := env.Writer.UpdateStatus(ctx, "Pod", p); err != nil {
			t.Fatal(err)
		}
	}
	hpa := func(name, target string) *autoscalingv2.HorizontalPodAutoscaler {
		return &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: 10,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}},
			}}
	}
	for _, h := range []*autoscalingv2.HorizontalPodAutoscaler{hpa("web", "web"), hpa("ghost", "nothing")} {
		if _, err := env.Writer.Create(ctx, "HorizontalPodAutoscaler", h); err != nil {
			t.Fatal(err)
		}
	}
	env.Run(t, reconcile.Name("informers", infs), reconcile.Name(Name, c))

	get := func(kind, name string) any {
		rec, err := env.Store.Get(ctx, env.Res(kind), "default", name, true)
		if err != nil {
			t.Fatal(err)
		}
		return rec.Object()
	}
	deadline := time.Now().Add(10 * time.Second)
	for ptr.Deref(get("Deployment", "web").(*appsv1.Deployment).Spec.Replicas, 0) != 6 {
		if time.Now().After(deadline) {
			t.Fatalf("replicas %d, want 6", ptr.Deref(get("Deployment", "web").(*appsv1.Deployment).Spec.Replicas, 0))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// 180% of requests against 50%: 8 wanted, 6 allowed at once (the
	// default policy: the larger of +4 pods and +100%).
	var h *autoscalingv2.HorizontalPodAutoscaler
	deadline = time.Now().Add(10 * time.Second)
	for {
		h = get("HorizontalPodAutoscaler", "web").(*autoscalingv2.HorizontalPodAutoscaler)
		if h.Status.DesiredReplicas == 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if h.Status.DesiredReplicas != 6 || h.Status.CurrentReplicas != 2 || len(h.Status.CurrentMetrics) != 1 ||
		ptr.Deref(h.Status.CurrentMetrics[0].Resource.Current.AverageUtilization, 0) != 180 || h.Status.LastScaleTime == nil {
		t.Fatalf("status %+v", h.Status)
	}
	if cond := find(h.Status.Conditions, autoscalingv2.ScalingLimited); cond == nil || cond.Reason != "ScaleRateLimited" {
		t.Fatalf("ScalingLimited: %+v", cond)
	}
	if !rec.Has("Normal SuccessfulRescale New size: 6; reason: cpu resource utilization (percentage of request) above target") {
		t.Fatalf("events: %s", rec)
	}
	// A missing target: AbleToScale False, saying which.
	deadline = time.Now().Add(10 * time.Second)
	for {
		g := get("HorizontalPodAutoscaler", "ghost").(*autoscalingv2.HorizontalPodAutoscaler)
		if cond := find(g.Status.Conditions, autoscalingv2.AbleToScale); cond != nil && cond.Status == corev1.ConditionFalse && cond.Reason == ReasonFailedGetScale {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ghost's conditions: %+v", g.Status.Conditions)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func find(conds []autoscalingv2.HorizontalPodAutoscalerCondition, typ autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// A Deployment below the autoscaler's minimum is brought to it at once,
// before any metric is known, and the event says why.
func TestBelowMinimumScalesWithoutMetrics(t *testing.T) {
	env := reconciletest.NewEnv(t)
	infs := reconcile.NewInformers(env.Store, env.Registry, env.Log)
	events := &reconciletest.Recorder{}
	c := New(Config{Autoscalers: infs.For("HorizontalPodAutoscaler"), Deployments: infs.For("Deployment"), ReplicaSets: infs.For("ReplicaSet"),
		Pods: infs.For("Pod"), Metrics: &fakeMetrics{}, Writer: env.Writer, Recorder: events, Clock: env.Clock, Logger: env.Log})
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "echo"}}}}}}
	if _, err := env.Writer.Create(env.Ctx, "Deployment", d); err != nil {
		t.Fatal(err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](3), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}},
		}}
	if _, err := env.Writer.Create(env.Ctx, "HorizontalPodAutoscaler", hpa); err != nil {
		t.Fatal(err)
	}
	env.Run(t, reconcile.Name("informers", infs), reconcile.Name(Name, c))
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec, err := env.Store.Get(env.Ctx, env.Res("Deployment"), "default", "web", true)
		if err != nil {
			t.Fatal(err)
		}
		// The event is recorded after the write: wait for both.
		scaled := ptr.Deref(rec.Object().(*appsv1.Deployment).Spec.Replicas, 0) == 3
		if scaled && events.Has("Normal SuccessfulRescale New size: 3; reason: Current number of replicas below Spec.MinReplicas") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scaled to the minimum: %v; events: %s", scaled, events)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
