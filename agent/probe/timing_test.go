package probe

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestTimingDefaults(t *testing.T) {
	tests := []struct {
		name  string
		kind  Kind
		probe corev1.Probe
		want  timing
	}{
		{name: "zero readiness", kind: Readiness,
			want: timing{period: 10 * time.Second, successThreshold: 1, failureThreshold: 3}},
		{name: "set readiness", kind: Readiness,
			probe: corev1.Probe{InitialDelaySeconds: 5, PeriodSeconds: 2, SuccessThreshold: 2, FailureThreshold: 7},
			want:  timing{initialDelay: 5 * time.Second, period: 2 * time.Second, successThreshold: 2, failureThreshold: 7}},
		{name: "liveness successThreshold is 1", kind: Liveness, probe: corev1.Probe{SuccessThreshold: 4},
			want: timing{period: 10 * time.Second, successThreshold: 1, failureThreshold: 3}},
		{name: "startup successThreshold is 1", kind: Startup, probe: corev1.Probe{SuccessThreshold: 4, FailureThreshold: 30},
			want: timing{period: 10 * time.Second, successThreshold: 1, failureThreshold: 30}},
		{name: "negatives", kind: Readiness,
			probe: corev1.Probe{InitialDelaySeconds: -1, PeriodSeconds: -1, SuccessThreshold: -1, FailureThreshold: -1},
			want:  timing{period: 10 * time.Second, successThreshold: 1, failureThreshold: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := timingFor(tt.kind, &tt.probe); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := probeTimeout(&corev1.Probe{}); got != time.Second {
		t.Errorf("default timeout %v, want 1s", got)
	}
	if got := probeTimeout(&corev1.Probe{TimeoutSeconds: 5}); got != 5*time.Second {
		t.Errorf("timeout %v, want 5s", got)
	}
}
