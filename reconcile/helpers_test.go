package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var reg = resources.Default()

func resource(t *testing.T, kind string) *resources.Resource {
	t.Helper()
	res, ok := reg.ByKind(kind)
	if !ok {
		t.Fatalf("no kind %s", kind)
	}
	return res
}

// newStore is an in-memory store (the FSM without Raft) with the default
// namespace.
func newStore(t *testing.T, cfg raftfsm.FSMConfig) storage.Store {
	t.Helper()
	cfg.Registry = reg
	s := raftfsm.NewMemStore(cfg)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", UID: "ns-default"}}
	if _, err := s.Create(context.Background(), resource(t, "Namespace"), ns); err != nil {
		t.Fatal(err)
	}
	return s
}

func testPod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "echo"}}},
	}
}

// put stores obj as is (no stamping), the way a test sets the scene.
func put(t *testing.T, s storage.Store, kind string, obj apis.Object) apis.Object {
	t.Helper()
	rec, err := s.Create(context.Background(), resource(t, kind), obj)
	if err != nil {
		t.Fatalf("creating %s %s: %v", kind, obj.GetName(), err)
	}
	return rec.Object()
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

func run(t *testing.T, loop interface{ Run(context.Context) error }) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return cancel
}
