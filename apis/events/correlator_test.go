package events

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// memSink stores events by name and counts writes.
type memSink struct {
	mu      sync.Mutex
	events  map[string]*corev1.Event
	creates int
	updates int
	rv      int
}

func (s *memSink) Create(_ context.Context, ev *corev1.Event) (*corev1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.events[ev.Name]; ok {
		return nil, fmt.Errorf("%s exists", ev.Name)
	}
	s.creates++
	s.rv++
	ev = ev.DeepCopy()
	ev.ResourceVersion = fmt.Sprint(s.rv)
	s.events[ev.Name] = ev
	return ev.DeepCopy(), nil
}

func (s *memSink) Update(_ context.Context, ev *corev1.Event) (*corev1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.events[ev.Name]
	if !ok || cur.ResourceVersion != ev.ResourceVersion {
		return nil, fmt.Errorf("%s: conflict", ev.Name)
	}
	s.updates++
	s.rv++
	ev = ev.DeepCopy()
	ev.ResourceVersion = fmt.Sprint(s.rv)
	s.events[ev.Name] = ev
	return ev.DeepCopy(), nil
}

// snapshot returns message -> count of the stored events.
func (s *memSink) snapshot() map[string]int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int32{}
	for _, ev := range s.events {
		out[ev.Message] = ev.Count
	}
	return out
}

func (s *memSink) writes() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates, s.updates
}

type fixture struct {
	clk  *clocktesting.FakeClock
	sink *memSink
	c    *Correlator
	n    int
}

func newFixture() *fixture {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sink := &memSink{events: map[string]*corev1.Event{}}
	return &fixture{clk: clk, sink: sink, c: New(sink, clk, nil)}
}

// record records an event about ReplicaSet web.
func (f *fixture) record(reason, msg string) {
	f.n++
	now := metav1.NewTime(f.clk.Now())
	f.c.Record(context.Background(), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("web.%d", f.n)},
		InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", Namespace: "default", Name: "web", UID: "u1"},
		Reason:         reason, Message: msg, Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: "replicaset-controller"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	})
}

// settle lets the interval pass and waits for the background writes.
func (f *fixture) settle(t *testing.T, creates, updates int) {
	t.Helper()
	f.clk.Step(WriteInterval)
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, u := f.sink.writes()
		if c == creates && u == updates {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes: %d creates %d updates, want %d and %d", c, u, creates, updates)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRepeatsAreCountedAndWrittenOncePerInterval(t *testing.T) {
	f := newFixture()
	f.record("Unhealthy", "probe failed")
	if c, u := f.sink.writes(); c != 1 || u != 0 {
		t.Fatalf("the first occurrence is written at once: %d creates %d updates", c, u)
	}
	for range 4 {
		f.record("Unhealthy", "probe failed")
	}
	// Four repeats within the interval: one update, with the exact count.
	f.settle(t, 1, 1)
	if got := f.sink.snapshot()["probe failed"]; got != 5 {
		t.Fatalf("count %d, want 5", got)
	}
	// Past the repeat window the same message is a new event.
	f.clk.Step(RepeatWindow)
	f.record("Unhealthy", "probe failed")
	f.settle(t, 2, 1)
}

func TestSimilarEventsAreCombined(t *testing.T) {
	f := newFixture()
	for i := range SimilarThreshold + 25 {
		f.record("SuccessfulCreate", fmt.Sprintf("Created pod: web-%02d", i))
	}
	// Ten events of their own, then one combined event for the other 25:
	// created once, then updated once at the end of the interval.
	f.settle(t, SimilarThreshold+1, 1)
	snap := f.sink.snapshot()
	var combined []string
	for msg, n := range snap {
		if strings.HasPrefix(msg, CombinedPrefix) {
			combined = append(combined, fmt.Sprintf("%s x%d", msg, n))
		}
	}
	if len(snap) != SimilarThreshold+1 || len(combined) != 1 || !strings.HasSuffix(combined[0], "web-34 x25") {
		t.Fatalf("stored %v, combined %v", snap, combined)
	}
	// Another reason is not folded in.
	f.record("SuccessfulDelete", "Deleted pod: web-00")
	if c, _ := f.sink.writes(); c != SimilarThreshold+2 {
		t.Fatalf("another reason: %d creates", c)
	}
}

func TestAnUpdateThatFailsCreatesTheEventAnew(t *testing.T) {
	f := newFixture()
	f.record("Unhealthy", "probe failed")
	f.sink.mu.Lock()
	f.sink.events = map[string]*corev1.Event{} // expired and deleted
	f.sink.mu.Unlock()
	f.clk.Step(2 * WriteInterval)
	f.record("Unhealthy", "probe failed")
	if got := f.sink.snapshot()["probe failed"]; got != 2 {
		t.Fatalf("count %d after the event was deleted, want 2 (a new event)", got)
	}
}
