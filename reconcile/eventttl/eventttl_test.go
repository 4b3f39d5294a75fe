package eventttl

import (
	"testing"
	"time"

	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/reconciletest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpiredEventsAreDeleted(t *testing.T) {
	env := reconciletest.NewEnv(t)
	now, clk, w, store, ctx := reconciletest.T0, env.Clock, env.Writer, env.Store, env.Ctx
	for name, last := range map[string]time.Time{
		"old":       now.Add(-2 * time.Hour),
		"just-old":  now.Add(-time.Hour - time.Second),
		"recent":    now.Add(-59 * time.Minute),
		"repeated":  now.Add(-time.Minute), // first seen long ago, last seen now
		"brand-new": now,
	} {
		first := last
		if name == "repeated" {
			first = now.Add(-3 * time.Hour)
		}
		ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"},
			Reason:         "Test", FirstTimestamp: metav1.NewTime(first), LastTimestamp: metav1.NewTime(last)}
		if _, err := w.Create(ctx, "Event", ev); err != nil {
			t.Fatal(err)
		}
	}
	infs := reconcile.NewInformers(store, env.Registry, nil)
	events := infs.For("Event")
	go infs.Run(ctx)
	if !reconcile.WaitForSync(ctx, events) {
		t.Fatal("no sync")
	}
	c := New(Config{Events: events, Writer: w, Clock: clk})
	if n := c.Sweep(ctx); n != 2 {
		t.Fatalf("deleted %d events, want 2 (old, just-old)", n)
	}
	evRes := env.Res("Event")
	for _, name := range []string{"recent", "repeated", "brand-new"} {
		if _, err := store.Get(ctx, evRes, "default", name, true); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"old", "just-old"} {
		if _, err := store.Get(ctx, evRes, "default", name, true); err == nil {
			t.Errorf("%s still stored", name)
		}
	}
}
