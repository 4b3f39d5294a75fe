package gc

import (
	"context"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/reconciletest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var reg = resources.Default()

type harness struct {
	t     *testing.T
	ctx   context.Context
	store storage.Store
	clk   *clocktesting.FakeClock
	w     *reconcile.StoreWriter
	c     *Collector
}

// newHarness starts the collector over an in-memory store with the
// default namespace, watching the Collected kinds. Its informers hold
// metadata alone, but for the kinds in whole: those come whole, as other
// controllers' informers that the collector shares.
func newHarness(t *testing.T, whole ...string) *harness {
	t.Helper()
	env := reconciletest.NewEnv(t)
	h := &harness{t: t, ctx: env.Ctx, store: env.Store, clk: env.Clock, w: env.Writer}
	infs := reconcile.NewInformers(env.Store, reg, env.Log)
	for _, kind := range whole {
		infs.For(kind)
	}
	h.c = New(Config{Informers: Watch(infs, reg), Reader: env.Store, Registry: reg, Writer: env.Writer, Clock: env.Clock, Logger: env.Log})
	env.Run(t, infs, h.c)
	return h
}

func (h *harness) res(kind string) *resources.Resource {
	res, _ := reg.ByKind(kind)
	return res
}

func (h *harness) create(kind string, obj apis.Object) apis.Object {
	h.t.Helper()
	out, err := h.w.Create(h.ctx, kind, obj)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// get returns the stored object, or nil when there is none.
func (h *harness) get(kind, name string) apis.Object {
	h.t.Helper()
	rec, err := h.store.Get(h.ctx, h.res(kind), "default", name, true)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return rec.Object()
}

func (h *harness) remove(kind, name string) {
	h.t.Helper()
	if _, err := h.store.Delete(h.ctx, h.res(kind), "default", name, storage.Preconditions{}); err != nil {
		h.t.Fatal(err)
	}
}

func ref(kind string, owner apis.Object) metav1.OwnerReference {
	apiVersion := "apps/v1"
	if kind == "Pod" {
		apiVersion = "v1"
	}
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

func deployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "echo"}}},
			},
		},
	}
}

func replicaSet(name string, owners ...metav1.OwnerReference) *appsv1.ReplicaSet {
	labels := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", OwnerReferences: owners},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "echo"}}},
			},
		},
	}
}

func configMap(name string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", OwnerReferences: owners},
		Data: map[string]string{"k": "v"}}
}

func pod(name string, owners ...metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", OwnerReferences: owners},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "echo"}}},
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// quiet checks that cond stays true for a while: nothing more happens.
func quiet(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 25 {
		if !cond() {
			t.Fatalf("not quiet: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
