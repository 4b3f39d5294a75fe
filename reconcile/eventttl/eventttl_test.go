package eventttl

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/raftfsm"
	"github.com/skiffhq/skiff/reconcile"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestExpiredEventsAreDeleted(t *testing.T) {
	reg := resources.Default()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := clocktesting.NewFakeClock(now)
	store := raftfsm.NewMemStore(raftfsm.FSMConfig{Registry: reg})
	seq := 0
	w := reconcile.NewStoreWriter(reconcile.StoreWriterConfig{Store: store, Registry: reg, Clock: clk,
		NewUID: func() string { seq++; return fmt.Sprintf("uid-%d", seq) }})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nsRes, _ := reg.ByKind("Namespace")
	if _, err := store.Create(ctx, nsRes, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", UID: "ns"}}); err != nil {
		t.Fatal(err)
	}
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
	infs := reconcile.NewInformers(store, reg, nil)
	events := infs.For("Event")
	go infs.Run(ctx)
	if !reconcile.WaitForSync(ctx, events) {
		t.Fatal("no sync")
	}
	c := New(Config{Events: events, Writer: w, Clock: clk})
	if n := c.Sweep(ctx); n != 2 {
		t.Fatalf("deleted %d events, want 2 (old, just-old)", n)
	}
	evRes, _ := reg.ByKind("Event")
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
