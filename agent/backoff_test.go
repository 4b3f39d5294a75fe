package agent

import (
	"testing"
	"time"

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
