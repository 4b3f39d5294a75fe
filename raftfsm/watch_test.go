package raftfsm

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func podOn(name, node string) *record {
	return newRecord("Pod", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: corev1.PodSpec{NodeName: node}})
}

func nodeFilter(node string) Filter {
	res, _ := resources.Default().ByKind("Pod")
	return Filter{Kind: "Pod", FieldSet: res.SelectableFields, IndexField: res.WatchIndex,
		Selection: storage.Selection{Fields: fields.OneTermEqualSelector("spec.nodeName", node)}}
}

// next reads one event or fails after a second.
func next(t *testing.T, w *Watcher) Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch ended: %v", w.Err())
		}
		return ev
	case <-time.After(time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

// noEvent fails when w has an event within 50 ms.
func noEvent(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case ev := <-w.Events():
		t.Fatalf("unexpected %s %s", ev.Type, ev.Object.Object().GetName())
	case <-time.After(50 * time.Millisecond):
	}
}

// The index on spec.nodeName: a node's watch sees only its pods, the
// scheduler's watch of unbound pods (spec.nodeName=) sees a pod leave when
// it is bound, and a watch without the index sees everything.
func TestHubIndexedWatchers(t *testing.T) {
	h := NewHub(100, 100)
	n1, err := h.Watch(nodeFilter("n1"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	n2, _ := h.Watch(nodeFilter("n2"), 0, nil)
	unbound, _ := h.Watch(nodeFilter(""), 0, nil)
	all, _ := h.Watch(Filter{Kind: "Pod"}, 0, nil)
	if !n1.indexed || !unbound.indexed || all.indexed {
		t.Fatalf("indexed: n1 %v unbound %v all %v", n1.indexed, unbound.indexed, all.indexed)
	}

	a0 := podOn("a", "")
	h.Publish([]Event{{Type: Added, Kind: "Pod", Revision: 1, Object: a0}})
	if ev := next(t, unbound); ev.Type != Added {
		t.Fatalf("unbound got %s", ev.Type)
	}
	a1 := podOn("a", "n1")
	h.Publish([]Event{{Type: Modified, Kind: "Pod", Revision: 2, Object: a1, Prev: a0}})
	if ev := next(t, unbound); ev.Type != Deleted {
		t.Fatalf("unbound got %s when the pod was bound, want DELETED", ev.Type)
	}
	if ev := next(t, n1); ev.Type != Added || ev.Revision != 2 {
		t.Fatalf("n1 got %s @%d, want ADDED @2", ev.Type, ev.Revision)
	}
	h.Publish([]Event{{Type: Deleted, Kind: "Pod", Revision: 3, Object: a1}})
	if ev := next(t, n1); ev.Type != Deleted {
		t.Fatalf("n1 got %s, want DELETED", ev.Type)
	}
	noEvent(t, n2)
	for _, want := range []storage.EventType{Added, Modified, Deleted} {
		if ev := next(t, all); ev.Type != want {
			t.Fatalf("unfiltered watch got %s, want %s", ev.Type, want)
		}
	}
	if got := h.Watchers(); got != 4 {
		t.Fatalf("Watchers() = %d, want 4", got)
	}
	n1.Stop()
	if _, ok := <-n1.Events(); ok {
		t.Fatal("a stopped watch still delivers")
	}
	if got := h.Watchers(); got != 3 {
		t.Fatalf("Watchers() after a stop = %d, want 3", got)
	}
}

// A watcher that does not read is cut off once buffer events are pending,
// and Publish never waits for it; a reader of the same hub is unaffected.
func TestHubCutsOffASlowWatcherOnly(t *testing.T) {
	h := NewHub(1000, 8)
	slow, _ := h.Watch(Filter{Kind: "Pod"}, 0, nil)
	fast, _ := h.Watch(Filter{Kind: "Pod"}, 0, nil)
	for i := range 50 {
		h.Publish([]Event{{Type: Added, Kind: "Pod", Revision: uint64(i + 1), Object: podOn(fmt.Sprint("p", i), "")}})
		if ev := next(t, fast); ev.Revision != uint64(i+1) {
			t.Fatalf("reader got revision %d, want %d", ev.Revision, i+1)
		}
	}
	n := 0
	for range slow.Events() {
		n++
	}
	if !errors.Is(slow.Err(), ErrTooSlow) {
		t.Fatalf("slow watcher: %v, want ErrTooSlow", slow.Err())
	}
	if n > 9 {
		t.Fatalf("slow watcher got %d events after being cut off; at most the one in hand", n)
	}
}
