package storage_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// racingStore writes the pod (as its agent reporting status would) just
// before each of the next `races` updates, so that they find it changed.
type racingStore struct {
	storage.Store
	races int
}

func (s *racingStore) Update(ctx context.Context, res *resources.Resource, obj apis.Object, from uint64) (storage.Record, error) {
	if s.races > 0 {
		s.races--
		cur, err := s.Store.Get(ctx, res, obj.GetNamespace(), obj.GetName(), false)
		if err != nil {
			return nil, err
		}
		p := cur.Object().(*corev1.Pod).DeepCopy()
		p.Status.Message = "reported meanwhile"
		p.ResourceVersion = ""
		if _, err := s.Store.Update(ctx, res, p, 0); err != nil {
			return nil, err
		}
	}
	return s.Store.Update(ctx, res, obj, from)
}

func TestMarkPodForDeletionRidesOutConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	reg := resources.Default()
	mem := raftfsm.NewMemStore(raftfsm.FSMConfig{Registry: reg})
	nsRes, _ := reg.ByKind("Namespace")
	podRes, _ := reg.ByKind("Pod")
	if _, err := mem.Create(ctx, nsRes, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "echo"}}}}
	}
	for _, name := range []string{"a", "b"} {
		if _, err := mem.Create(ctx, podRes, pod(name)); err != nil {
			t.Fatal(err)
		}
	}
	s := &racingStore{Store: mem, races: 2}
	rec, did, err := storage.MarkPodForDeletion(ctx, s, podRes, "default", "a", storage.Preconditions{UID: "uid-a"}, nil, time.Now())
	if err != nil || did != storage.Marked || rec.Object().GetDeletionTimestamp() == nil {
		t.Fatalf("two writes in between: %v %v", did, err)
	}
	if got := rec.Object().(*corev1.Pod).Status.Message; got != "reported meanwhile" {
		t.Fatalf("the mark lost the write in between: status message %q", got)
	}
	// A delete that names a resourceVersion means that one.
	cur, _ := mem.Get(ctx, podRes, "default", "b", false)
	rv, _ := strconv.ParseUint(cur.Object().GetResourceVersion(), 10, 64)
	s.races = 1
	if _, _, err := storage.MarkPodForDeletion(ctx, s, podRes, "default", "b", storage.Preconditions{ResourceVersion: rv}, nil, time.Now()); !apierrors.IsConflict(err) {
		t.Fatalf("a resourceVersion precondition overtaken: %v", err)
	}
}
