package hpa

import "testing"

// pods makes n ready pods with the request and usages given in order.
func readySamples(request int64, usages ...int64) []PodSample {
	out := make([]PodSample, len(usages))
	for i, u := range usages {
		out[i] = PodSample{Name: string(rune('a' + i)), Ready: true, Request: request, Usage: u, HasUsage: true}
	}
	return out
}

func TestReplicas(t *testing.T) {
	cpu50 := Target{Utilization: 50}
	notReady := func(p []PodSample, i int) []PodSample { p[i].Ready = false; return p }
	noMetrics := func(p []PodSample, i int) []PodSample { p[i].HasUsage = false; return p }
	cases := []struct {
		name    string
		current int32
		pods    []PodSample
		target  Target
		want    int32
		value   int64
	}{
		// The documentation's example: current 200m against a 100m target
		// doubles the replicas (desired = ceil[current × current/desired]).
		{"docs: 200m against 100m doubles", 1, readySamples(1000, 200), Target{AverageValue: 100}, 2, 200},
		// ... and 50m against 100m halves them.
		{"docs: 50m against 100m halves", 2, readySamples(1000, 50, 50), Target{AverageValue: 100}, 1, 50},
		{"within the tolerance: no change", 3, readySamples(1000, 520, 480, 530), cpu50, 3, 51},
		{"utilization above target scales up", 3, readySamples(1000, 900, 900, 900), cpu50, 6, 90},
		{"utilization below target scales down", 4, readySamples(1000, 100, 100, 100, 100), cpu50, 1, 10},
		// Scaling up: a pod without metrics counts as using nothing.
		{"scale up, one pod without metrics", 3, noMetrics(readySamples(1000, 900, 900, 0), 2), cpu50, 4, 90},
		// Scaling down: a pod without metrics counts as at the target.
		{"scale down, one pod without metrics", 3, noMetrics(readySamples(1000, 100, 100, 0), 2), cpu50, 2, 10},
		// Scaling up: a pod not ready counts as using nothing.
		{"scale up, one pod not ready", 3, notReady(readySamples(1000, 900, 900, 900), 2), cpu50, 4, 90},
		// Scaling down: not-ready pods are left out (the ready ones decide).
		{"scale down, one pod not ready", 3, notReady(readySamples(1000, 100, 100, 900), 2), cpu50, 1, 10},
		// Assumptions reversing the direction: no change.
		{"missing metrics would reverse a scale-up", 4, noMetrics(noMetrics(noMetrics(readySamples(1000, 600, 0, 0, 0), 1), 2), 3), cpu50, 4, 60},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Replicas(tc.current, tc.pods, tc.target, DefaultTolerance)
			if err != nil {
				t.Fatal(err)
			}
			if got.Replicas != tc.want || got.Current != tc.value {
				t.Fatalf("replicas %d (value %d), want %d (value %d)", got.Replicas, got.Current, tc.want, tc.value)
			}
		})
	}
	if _, err := Replicas(2, noMetrics(noMetrics(readySamples(1000, 0, 0), 0), 1), cpu50, DefaultTolerance); err != ErrNoMetrics {
		t.Fatalf("no pod measured yet: %v, want ErrNoMetrics", err)
	}
	if _, err := Replicas(2, []PodSample{{Name: "x", Ready: true, HasUsage: true, Usage: 10}}, cpu50, DefaultTolerance); err == nil {
		t.Fatal("a utilization target over a pod without a request: no error")
	}
}
