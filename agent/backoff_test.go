package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestCrashLoopBackoff(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	b := newBackoffs(clk)
	// The first crash restarts at once; each further one waits twice as long.
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		id := string(rune('a' + i))
		if got := b.record("c", id, clk.Now()); got != w {
			t.Fatalf("crash %d: wait %s, want %s", i+1, got, w)
		}
		// Looking at the same crash again changes nothing.
		if got := b.record("c", id, clk.Now()); got != w {
			t.Fatalf("crash %d seen twice: wait %s, want %s", i+1, got, w)
		}
		clk.Step(w)
		if got := b.wait("c"); got != 0 {
			t.Fatalf("after the wait, %s left", got)
		}
	}
	b.reset("c")
	if got := b.record("c", "z", clk.Now()); got != 0 {
		t.Fatalf("after a reset the first restart waits %s", got)
	}
}

func TestRepeatedEventsAreCounted(t *testing.T) {
	h := newHarness(t)
	a := h.newAgent()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		a.event(ctx, pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container")
		h.clk.Step(time.Minute)
	}
	a.event(ctx, pod, corev1.EventTypeNormal, "Started", "Started container app")
	h.clk.Step(eventRepeatWindow)
	a.event(ctx, pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container")

	h.cluster.mu.Lock()
	defer h.cluster.mu.Unlock()
	var got []string
	names := map[string]bool{}
	for _, e := range h.cluster.events {
		got = append(got, fmt.Sprintf("%s x%d", e.Reason, e.Count))
		if e.Reason == "BackOff" {
			names[e.Name] = true
		}
	}
	want := "BackOff x1,BackOff x2,BackOff x3,Started x1,BackOff x1"
	if strings.Join(got, ",") != want {
		t.Fatalf("events written: %s, want %s", strings.Join(got, ","), want)
	}
	if len(names) != 2 {
		t.Fatalf("the repeats did not reuse the first event's name: %v", names)
	}
	if last := h.cluster.events[2]; !last.LastTimestamp.After(last.FirstTimestamp.Time) {
		t.Fatalf("a repeat keeps its first timestamp and moves its last: %v %v", last.FirstTimestamp, last.LastTimestamp)
	}
}
