package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/cmd/internal/benchkit"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// hpaRun is how long an autoscaler took to follow a load.
type hpaRun struct {
	decided  time.Duration // load start -> the autoscaler raised spec.replicas
	ready    time.Duration // load start -> every new replica Ready
	replicas int32         // replicas it scaled to
}

// measureHPA runs a one-replica Deployment (CPU request 100m) under an
// autoscaler (1-4 replicas, 50% CPU), with the cluster's default periods
// (usage reports and scrapes every 15 s, autoscaler sync every 15 s),
// then burns CPU in it through its Service and times the reaction.
func measureHPA(ctx context.Context, c *client.Client) (*hpaRun, error) {
	deployRes, _ := c.Registry().ByKind("Deployment")
	svcRes, _ := c.Registry().ByKind("Service")
	hpaRes, _ := c.Registry().ByKind("HorizontalPodAutoscaler")
	podsRes, _ := c.Registry().ByKind("Pod")
	labels := map[string]string{"app": "burn"}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "burn", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To(int64(2)),
					Containers: []corev1.Container{{
						Name: "echo", Image: "skiff.local/echo:1",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
							Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
						},
						ReadinessProbe: &corev1.Probe{PeriodSeconds: 1,
							ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")}}},
					}},
				},
			},
		},
	}
	if _, err := c.Create(ctx, d); err != nil {
		return nil, err
	}
	defer func() {
		bg := context.Background()
		c.Delete(bg, hpaRes, "default", "burn", nil)
		c.Delete(bg, svcRes, "default", "burn", nil)
		c.Delete(bg, deployRes, "default", "burn", nil)
		benchkit.WaitFor(bg, 120*time.Second, func() bool {
			l, err := c.List(bg, podsRes, client.ListOptions{Namespace: "default", LabelSelector: "app=burn"})
			return err == nil && len(l.Items) == 0
		})
	}()
	svc, err := c.Create(ctx, &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "burn", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}})
	if err != nil {
		return nil, err
	}
	burnURL := "http://" + svc.(*corev1.Service).Spec.ClusterIP + "/burn?ms=500"
	deployment := func() *appsv1.Deployment {
		o, err := c.Get(ctx, deployRes, "default", "burn")
		if err != nil {
			return &appsv1.Deployment{}
		}
		return o.(*appsv1.Deployment)
	}
	benchkit.Progress("waiting for deployment/burn")
	if err := benchkit.WaitFor(ctx, 60*time.Second, func() bool { return deployment().Status.ReadyReplicas == 1 }); err != nil {
		return nil, fmt.Errorf("deployment/burn never became ready: %w", err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: "burn", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "burn"},
			MinReplicas:    ptr.To(int32(1)), MaxReplicas: 4,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(50))}}}},
		},
	}
	if _, err := c.Create(ctx, hpa); err != nil {
		return nil, err
	}
	// The autoscaler has seen the idle pod's usage: the clock starts from
	// a steady state, as a real load spike would find it.
	benchkit.Progress("waiting for the autoscaler's first metrics")
	if err := benchkit.WaitFor(ctx, 90*time.Second, func() bool {
		o, err := c.Get(ctx, hpaRes, "default", "burn")
		return err == nil && len(o.(*autoscalingv2.HorizontalPodAutoscaler).Status.CurrentMetrics) > 0
	}); err != nil {
		return nil, fmt.Errorf("the autoscaler never had metrics: %w", err)
	}
	benchkit.Progress("burning CPU in deployment/burn through its cluster IP")
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 5 * time.Second}
	for range 2 {
		wg.Go(func() {
			for loadCtx.Err() == nil {
				req, _ := http.NewRequestWithContext(loadCtx, http.MethodGet, burnURL, nil)
				if resp, err := hc.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	defer func() { stopLoad(); wg.Wait() }()
	start := time.Now()
	r := &hpaRun{}
	if err := benchkit.WaitFor(ctx, 3*time.Minute, func() bool {
		d := deployment()
		if r.decided == 0 && ptr.Deref(d.Spec.Replicas, 1) > 1 {
			r.decided, r.replicas = time.Since(start), *d.Spec.Replicas
		}
		return r.decided > 0 && d.Status.ReadyReplicas >= r.replicas
	}); err != nil {
		return nil, fmt.Errorf("the autoscaler did not scale deployment/burn up: %w", err)
	}
	r.ready = time.Since(start)
	return r, nil
}

func printHPA(r *hpaRun) {
	fmt.Printf("autoscaling (one replica, CPU request 100m, autoscaler 1-4 replicas at 50%% CPU; two clients burning CPU through the\n" +
		"cluster IP; the defaults: usage reported and scraped every 15 s, autoscaler sync every 15 s):\n\n")
	fmt.Println("| figure | goal | skiff | comparison |")
	fmt.Println("| --- | --- | ---: | --- |")
	fmt.Printf("| load start -> autoscaler raises replicas | — | %s (to %d) | Kubernetes defaults: metrics-server 15 s resolution, HPA sync 15 s |\n",
		r.decided.Round(100*time.Millisecond), r.replicas)
	fmt.Printf("| load start -> new replicas Ready | — | %s | |\n\n", r.ready.Round(100*time.Millisecond))
}
