package hpa

import (
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

func TestStabilizationWindows(t *testing.T) {
	up, down := rules(nil)
	h := &history{}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := h.stabilize(t0, 4, 10, up, down); got != 10 {
		t.Fatalf("scale up with a 0 s window: %d, want 10 at once", got)
	}
	// Load drops: the highest recommendation of the last 5 minutes holds.
	if got := h.stabilize(t0.Add(time.Minute), 10, 3, up, down); got != 10 {
		t.Fatalf("a minute later: %d, want 10 (scale-down window)", got)
	}
	if got := h.stabilize(t0.Add(5*time.Minute+time.Second), 10, 3, up, down); got != 3 {
		t.Fatalf("past the window: %d, want 3", got)
	}
	// A configured scale-up window holds scale-ups to its lowest.
	sixty := int32(60)
	up2, down2 := rules(&autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &sixty}})
	h2 := &history{}
	h2.stabilize(t0, 2, 2, up2, down2)
	if got := h2.stabilize(t0.Add(30*time.Second), 2, 8, up2, down2); got != 2 {
		t.Fatalf("scale-up window 60 s, 30 s after a recommendation of 2: %d", got)
	}
	if got := h2.stabilize(t0.Add(91*time.Second), 2, 8, up2, down2); got != 8 {
		t.Fatalf("past the scale-up window: %d", got)
	}
}

func TestRatePolicies(t *testing.T) {
	up, down := rules(nil)
	h := &history{}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		current, desired, want int32
		limited                bool
	}{
		{2, 20, 6, true},    // max(2+4, 2×200%=4)
		{10, 30, 20, true},  // max(14, 20)
		{10, 12, 12, false}, // within both
		{10, 1, 1, false},   // scale down by up to 100%
	}
	for _, c := range cases {
		got, limited := h.limit(t0, c.current, c.desired, up, down)
		if got != c.want || limited != c.limited {
			t.Errorf("%d -> %d: %d (limited %v), want %d (%v)", c.current, c.desired, got, limited, c.want, c.limited)
		}
	}
	// Within one period, what was added counts: from 2 to 6, then no more
	// than the period's start allows.
	h.record(t0, 2, 6)
	if got, _ := h.limit(t0.Add(5*time.Second), 6, 20, up, down); got != 6 {
		t.Fatalf("second step within 15 s: %d, want 6 (start 2: max(2+4, 4))", got)
	}
	if got, _ := h.limit(t0.Add(16*time.Second), 6, 20, up, down); got != 12 {
		t.Fatalf("next period: %d, want 12 (max(6+4, 12))", got)
	}
	disabled := autoscalingv2.DisabledPolicySelect
	if got, _ := h.limit(t0, 10, 2, up, &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &defaultDownWindow, Policies: defaultDown, SelectPolicy: &disabled}); got != 10 {
		t.Fatalf("scale down disabled: %d", got)
	}
}
