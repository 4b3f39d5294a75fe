package endpoints

import (
	"context"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/reconciletest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func webService(ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"tier": "front"}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: ports, ClusterIP: "10.43.0.10"},
	}
}

func httpPort(target intstr.IntOrString) corev1.ServicePort {
	return corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: target}
}

// webPod is a pod of app web at ip, ready or not, whose container names
// port 8080 "http" unless portName says otherwise.
func webPod(name, ip string, ready bool, portName string) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name[len(name)-1:]), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "echo",
			Ports: []corev1.ContainerPort{{Name: portName, ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func addr(ip, pod string) corev1.EndpointAddress {
	n1 := "n1"
	return corev1.EndpointAddress{IP: ip, NodeName: &n1,
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: pod, UID: types.UID("uid-" + pod[len(pod)-1:])}}
}

func TestSubsets(t *testing.T) {
	now := metav1.Now()
	terminating := webPod("web-d", "10.42.0.4", true, "http")
	terminating.DeletionTimestamp = &now
	finished := webPod("web-e", "10.42.0.5", true, "http")
	finished.Status.Phase = corev1.PodSucceeded
	noIP := webPod("web-f", "", true, "http")
	port8080 := []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}
	cases := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []corev1.EndpointSubset
	}{
		{"no pods", webService(httpPort(intstr.FromInt32(8080))), nil, nil},
		{"ready and not ready, sorted by IP",
			webService(httpPort(intstr.FromInt32(8080))),
			[]*corev1.Pod{webPod("web-b", "10.42.0.2", true, "http"), webPod("web-a", "10.42.0.1", true, "http"), webPod("web-c", "10.42.0.3", false, "http")},
			[]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.42.0.1", "web-a"), addr("10.42.0.2", "web-b")},
				NotReadyAddresses: []corev1.EndpointAddress{addr("10.42.0.3", "web-c")}, Ports: port8080}}},
		{"terminating, finished and address-less pods left out",
			webService(httpPort(intstr.FromInt32(8080))),
			[]*corev1.Pod{terminating, finished, noIP, webPod("web-a", "10.42.0.1", true, "http")},
			[]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.42.0.1", "web-a")}, Ports: port8080}}},
		{"named target port resolved per pod; a pod without the name left out",
			webService(httpPort(intstr.FromString("http"))),
			[]*corev1.Pod{webPod("web-a", "10.42.0.1", true, "http"), webPod("web-b", "10.42.0.2", true, "metrics")},
			[]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.42.0.1", "web-a")}, Ports: port8080}}},
		{"unset target port is the service port",
			webService(corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}),
			[]*corev1.Pod{webPod("web-a", "10.42.0.1", true, "http")},
			[]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr("10.42.0.1", "web-a")},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Subsets(tc.svc, tc.pods)
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestControllerFollowsPods(t *testing.T) {
	env := reconciletest.NewEnv(t)
	infs := reconcile.NewInformers(env.Store, env.Registry, env.Log)
	c := New(Config{Services: infs.For("Service"), Pods: infs.For("Pod"), Endpoints: infs.For("Endpoints"),
		Writer: env.Writer, Clock: env.Clock, Logger: env.Log})
	env.Run(t, reconcile.Name("informers", infs), reconcile.Name(Name, c))
	ctx := env.Ctx
	get := func() *corev1.Endpoints {
		rec, err := env.Store.Get(ctx, env.Res("Endpoints"), "default", "web", true)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return rec.Object().(*corev1.Endpoints)
	}
	ips := func(ep *corev1.Endpoints) (ready, notReady []string) {
		for _, ss := range ep.Subsets {
			for _, a := range ss.Addresses {
				ready = append(ready, a.IP)
			}
			for _, a := range ss.NotReadyAddresses {
				notReady = append(notReady, a.IP)
			}
		}
		return
	}
	eventually := func(what string, cond func(ep *corev1.Endpoints) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if ep := get(); cond(ep) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %s; endpoints %+v", what, get())
			}
			time.Sleep(2 * time.Millisecond)
			// Retries after a conflict wait on the fake clock.
			env.Clock.Step(10 * time.Millisecond)
		}
	}
	for _, p := range []*corev1.Pod{webPod("web-a", "10.42.0.1", true, "http"), webPod("web-b", "10.42.0.2", false, "http")} {
		if _, err := env.Writer.Create(ctx, "Pod", p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Writer.Create(ctx, "Service", webService(httpPort(intstr.FromString("http")))); err != nil {
		t.Fatal(err)
	}
	eventually("a ready, b not ready", func(ep *corev1.Endpoints) bool {
		if ep == nil {
			return false
		}
		r, n := ips(ep)
		return len(r) == 1 && r[0] == "10.42.0.1" && len(n) == 1 && n[0] == "10.42.0.2" && ep.Labels["tier"] == "front"
	})
	// b becomes ready.
	rec, _ := env.Store.Get(ctx, env.Res("Pod"), "default", "web-b", true)
	b := rec.Object().(*corev1.Pod).DeepCopy()
	b.Status.Conditions[0].Status = corev1.ConditionTrue
	if _, err := env.Writer.UpdateStatus(ctx, "Pod", b); err != nil {
		t.Fatal(err)
	}
	eventually("both ready", func(ep *corev1.Endpoints) bool { r, n := ips(ep); return len(r) == 2 && len(n) == 0 })
	// a is deleted while bound: marked, it leaves at once.
	if err := env.Writer.Delete(ctx, "Pod", "default", "web-a", storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	eventually("a gone from the endpoints while it stops", func(ep *corev1.Endpoints) bool {
		r, _ := ips(ep)
		return len(r) == 1 && r[0] == "10.42.0.2"
	})
	// Someone overwrites the Endpoints: put back.
	ep := get().DeepCopy()
	ep.Subsets = nil
	if _, err := env.Writer.Update(ctx, "Endpoints", ep); err != nil {
		t.Fatal(err)
	}
	eventually("restored", func(ep *corev1.Endpoints) bool { r, _ := ips(ep); return len(r) == 1 })
	// The Service goes: so do its Endpoints.
	if _, err := env.Store.Delete(context.Background(), env.Res("Service"), "default", "web", storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	eventually("endpoints deleted with the service", func(ep *corev1.Endpoints) bool { return ep == nil })
}
