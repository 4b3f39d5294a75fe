package reconcile_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/raftfsm"
	"github.com/skiffhq/skiff/reconcile"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newWriter(t *testing.T) (*reconcile.StoreWriter, storage.Store, *clocktesting.FakeClock) {
	s := newStore(t, raftfsm.FSMConfig{})
	clk := clocktesting.NewFakeClock(t0)
	n := 0
	w := reconcile.NewStoreWriter(reconcile.StoreWriterConfig{Store: s, Registry: reg, Clock: clk, NewUID: func() string {
		n++
		return "uid-" + string(rune('0'+n))
	}})
	return w, s, clk
}

func testRS() *appsv1.ReplicaSet {
	labels := map[string]string{"app": "web"}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "echo"}}},
			},
		},
	}
}

func TestStoreWriterCreateStampsDefaultsAndValidates(t *testing.T) {
	ctx := context.Background()
	w, _, _ := newWriter(t)
	obj, err := w.Create(ctx, "ReplicaSet", testRS())
	if err != nil {
		t.Fatal(err)
	}
	rs := obj.(*appsv1.ReplicaSet)
	if rs.UID != "uid-1" || !rs.CreationTimestamp.Time.Equal(t0) || rs.Generation != 1 || rs.ResourceVersion == "" {
		t.Errorf("not stamped: uid %q created %v generation %d rv %q", rs.UID, rs.CreationTimestamp, rs.Generation, rs.ResourceVersion)
	}
	if rs.APIVersion != "apps/v1" || rs.Kind != "ReplicaSet" {
		t.Errorf("type %s %s", rs.APIVersion, rs.Kind)
	}
	if rs.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Error("not defaulted")
	}
	bad := testRS()
	bad.Name = "bad"
	bad.Spec.Replicas = ptr.To[int32](-1)
	if _, err := w.Create(ctx, "ReplicaSet", bad); !apierrors.IsInvalid(err) {
		t.Errorf("negative replicas: %v", err)
	}
	if _, err := w.Create(ctx, "NoSuchKind", bad); !apierrors.IsBadRequest(err) {
		t.Errorf("unknown kind: %v", err)
	}
}

func TestStoreWriterUpdateKeepsStatusAndCountsSpecChanges(t *testing.T) {
	ctx := context.Background()
	w, _, _ := newWriter(t)
	obj, _ := w.Create(ctx, "ReplicaSet", testRS())
	withStatus := obj.(*appsv1.ReplicaSet).DeepCopy()
	withStatus.Status.Replicas = 2
	obj, err := w.UpdateStatus(ctx, "ReplicaSet", withStatus)
	if err != nil {
		t.Fatal(err)
	}
	rs := obj.(*appsv1.ReplicaSet)
	if rs.Status.Replicas != 2 || rs.Generation != 1 {
		t.Fatalf("status update: replicas %d generation %d", rs.Status.Replicas, rs.Generation)
	}

	labeled := rs.DeepCopy()
	labeled.Labels = map[string]string{"team": "a"}
	labeled.Status.Replicas = 99 // the main endpoint never writes status
	obj, err = w.Update(ctx, "ReplicaSet", labeled)
	if err != nil {
		t.Fatal(err)
	}
	rs = obj.(*appsv1.ReplicaSet)
	if rs.Generation != 1 || rs.Status.Replicas != 2 || rs.Labels["team"] != "a" {
		t.Fatalf("metadata update: generation %d status %d labels %v", rs.Generation, rs.Status.Replicas, rs.Labels)
	}

	scaled := rs.DeepCopy()
	scaled.Spec.Replicas = ptr.To[int32](5)
	scaled.UID = "forged"
	obj, err = w.Update(ctx, "ReplicaSet", scaled)
	if err != nil {
		t.Fatal(err)
	}
	if got := obj.(*appsv1.ReplicaSet); got.Generation != 2 || got.UID != "uid-1" || *got.Spec.Replicas != 5 {
		t.Fatalf("spec update: generation %d uid %s replicas %d", got.Generation, got.UID, *got.Spec.Replicas)
	}

	// Based on an old version: refused.
	stale := rs.DeepCopy()
	stale.Spec.Replicas = ptr.To[int32](1)
	if _, err := w.Update(ctx, "ReplicaSet", stale); !apierrors.IsConflict(err) {
		t.Errorf("stale update: %v", err)
	}
	if _, err := w.UpdateStatus(ctx, "ReplicaSet", stale); !apierrors.IsConflict(err) {
		t.Errorf("stale status update: %v", err)
	}
	noRV := stale.DeepCopy()
	noRV.ResourceVersion = ""
	if _, err := w.Update(ctx, "ReplicaSet", noRV); !errors.Is(err, reconcile.ErrNoResourceVersion) && !apierrors.IsBadRequest(err) {
		t.Errorf("update without resourceVersion: %v", err)
	}
}

func TestStoreWriterDeletesBoundPodsGracefully(t *testing.T) {
	ctx := context.Background()
	w, s, _ := newWriter(t)
	unbound := testPod("unbound", nil)
	bound := testPod("bound", nil)
	bound.Spec.NodeName = "n1"
	bound.Spec.TerminationGracePeriodSeconds = ptr.To[int64](7)
	var uids = map[string]string{}
	for _, p := range []*corev1.Pod{unbound, bound} {
		obj, err := w.Create(ctx, "Pod", p)
		if err != nil {
			t.Fatal(err)
		}
		uids[p.Name] = string(obj.GetUID())
	}
	if err := w.Delete(ctx, "Pod", "default", "unbound", storage.Preconditions{UID: "someone-else"}); !apierrors.IsConflict(err) {
		t.Errorf("delete with the wrong UID: %v", err)
	}
	if err := w.Delete(ctx, "Pod", "default", "unbound", storage.Preconditions{UID: uids["unbound"]}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, resource(t, "Pod"), "default", "unbound", true); !apierrors.IsNotFound(err) {
		t.Errorf("an unbound pod was not removed at once: %v", err)
	}
	if err := w.Delete(ctx, "Pod", "default", "bound", storage.Preconditions{UID: uids["bound"]}); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Get(ctx, resource(t, "Pod"), "default", "bound", true)
	if err != nil {
		t.Fatalf("a bound pod was removed instead of marked: %v", err)
	}
	pod := rec.Object().(*corev1.Pod)
	if pod.DeletionTimestamp == nil || !pod.DeletionTimestamp.Time.Equal(t0) || ptr.Deref(pod.DeletionGracePeriodSeconds, 0) != 7 {
		t.Fatalf("marked %v grace %v", pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds)
	}
	if err := w.Delete(ctx, "Pod", "default", "bound", storage.Preconditions{}); err != nil {
		t.Errorf("deleting a pod being deleted: %v", err)
	}
	if err := w.Delete(ctx, "Pod", "default", "gone", storage.Preconditions{}); !apierrors.IsNotFound(err) {
		t.Errorf("deleting a missing pod: %v", err)
	}
}

func TestStoreRecorderWritesEvents(t *testing.T) {
	ctx := context.Background()
	w, s, _ := newWriter(t)
	obj, _ := w.Create(ctx, "ReplicaSet", testRS())
	r := reconcile.NewStoreRecorder(reconcile.StoreRecorderConfig{Writer: w, Component: "replicaset-controller", Instance: "m1"})
	r.Event(ctx, obj, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: web-abcde")
	r.Event(ctx, obj, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: web-fghij")
	list, err := s.List(ctx, resource(t, "Event"), storage.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("%d events, want 2", len(list.Items))
	}
	ev := list.Items[0].Object().(*corev1.Event)
	if ev.InvolvedObject.Kind != "ReplicaSet" || ev.InvolvedObject.APIVersion != "apps/v1" || ev.InvolvedObject.UID != obj.GetUID() ||
		ev.Reason != "SuccessfulCreate" || ev.Source.Component != "replicaset-controller" || ev.Namespace != "default" {
		t.Fatalf("event %+v", ev)
	}
}
