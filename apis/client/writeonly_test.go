package client_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The ...Only writes store what the typed ones store and fail as they do.
func TestWritesWithoutAnswers(t *testing.T) {
	c, _ := newServer(t, 0, 0)
	ctx := context.Background()
	pods, _ := c.Registry().ByKind("Pod")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "echo"}}}}
	if err := c.CreateOnly(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateOnly(ctx, pod); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("a second create: %v", err)
	}
	if err := c.CreateOnly(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "q"}}); err == nil {
		t.Fatal("a pod without a namespace was sent")
	}
	got, err := c.Get(ctx, pods, "default", "p")
	if err != nil {
		t.Fatal(err)
	}
	st := got.(*corev1.Pod).DeepCopy()
	st.Status.Phase = corev1.PodRunning
	st.Spec.Containers[0].Image = "ignored by a status write"
	if err := c.UpdateStatusOnly(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateStatusOnly(ctx, st); !apierrors.IsConflict(err) {
		t.Fatalf("a status write on a stale version: %v", err)
	}
	got, _ = c.Get(ctx, pods, "default", "p")
	if p := got.(*corev1.Pod); p.Status.Phase != corev1.PodRunning || p.Spec.Containers[0].Image != "echo" {
		t.Fatalf("after the status write: phase %s, image %s", p.Status.Phase, p.Spec.Containers[0].Image)
	}
	upd := got.(*corev1.Pod).DeepCopy()
	upd.Spec.Containers[0].Image = "echo:2"
	if err := c.UpdateOnly(ctx, upd); err != nil {
		t.Fatal(err)
	}
	got, _ = c.Get(ctx, pods, "default", "p")
	if p := got.(*corev1.Pod); p.Spec.Containers[0].Image != "echo:2" || p.Status.Phase != corev1.PodRunning {
		t.Fatalf("after the update: phase %s, image %s", p.Status.Phase, p.Spec.Containers[0].Image)
	}
}
