package probe

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// workerHarness runs one worker on a fake clock against a scriptExecer
// through the real prober; the probe's command is "check".
type workerHarness struct {
	t      *testing.T
	fc     *clocktesting.FakeClock
	ex     *scriptExecer
	log    updateLog
	w      *worker
	key    Key
	period time.Duration
}

func startTestWorker(t *testing.T, ctx context.Context, kind Kind, p *corev1.Probe, startedAt time.Time, ex *scriptExecer) *workerHarness {
	t.Helper()
	h := &workerHarness{
		t:      t,
		fc:     clocktesting.NewFakeClock(t0),
		ex:     ex,
		key:    Key{PodUID: "pod-1", ContainerName: "app", ContainerID: "c1", Kind: kind},
		period: timingFor(kind, p).period,
	}
	h.w = startWorker(ctx, workerConfig{
		Key:       h.key,
		Probe:     p,
		Target:    Target{Exec: ex},
		Prober:    NewProber(),
		StartedAt: startedAt,
		Clock:     h.fc,
		OnUpdate:  h.log.add,
		Logger:    discardLogger(),
	})
	t.Cleanup(h.w.Stop)
	return h
}

func (h *workerHarness) done() bool {
	select {
	case <-h.w.done:
		return true
	default:
		return false
	}
}

// settle waits until the worker sleeps on the clock or has returned.
func (h *workerHarness) settle() {
	h.t.Helper()
	waitFor(h.t, "the worker to settle", func() bool { return h.fc.HasWaiters() || h.done() })
}

// tick lets one period pass and waits for the probe it triggers.
func (h *workerHarness) tick() {
	h.t.Helper()
	h.settle()
	h.fc.Step(h.period)
	h.settle()
}

func TestWorkerThresholds(t *testing.T) {
	failureThreshold := func(n int32) func(*corev1.Probe) {
		return func(p *corev1.Probe) { p.FailureThreshold = n }
	}
	tests := []struct {
		name   string
		kind   Kind
		mod    func(*corev1.Probe)
		script []int    // exit code of each call
		want   []string // update after each call, "" for none
		// stopsAfter is the call after which the worker holds; 0: it keeps going.
		stopsAfter int
	}{
		{name: "liveness flips on the 3rd failure", kind: Liveness,
			script: []int{1, 1, 1}, want: []string{"", "", "failure"}, stopsAfter: 3},
		{name: "liveness successes report nothing", kind: Liveness,
			script: []int{0, 0, 0}, want: []string{"", "", ""}},
		{name: "a success breaks a run of failures", kind: Liveness,
			script: []int{1, 1, 0, 1, 1, 1}, want: []string{"", "", "", "", "", "failure"}, stopsAfter: 6},
		{name: "unknown neither counts nor breaks a run", kind: Liveness,
			script: []int{1, runtimeError, 1, runtimeError, 1}, want: []string{"", "", "", "", "failure"}, stopsAfter: 5},
		{name: "liveness failureThreshold 1", kind: Liveness, mod: failureThreshold(1),
			script: []int{0, 1}, want: []string{"", "failure"}, stopsAfter: 2},
		{name: "readiness successThreshold 2, failureThreshold 2", kind: Readiness,
			mod:    func(p *corev1.Probe) { p.SuccessThreshold, p.FailureThreshold = 2, 2 },
			script: []int{0, 0, 0, 1, 1, 1, 0, 0},
			want:   []string{"", "success", "", "", "failure", "", "", "success"}},
		{name: "readiness starts failed: failures report nothing", kind: Readiness,
			script: []int{1, 1, 1, 1}, want: []string{"", "", "", ""}},
		{name: "readiness first success", kind: Readiness,
			script: []int{0}, want: []string{"success"}},
		{name: "startup success ends the worker", kind: Startup,
			script: []int{1, 0}, want: []string{"", "success"}, stopsAfter: 2},
		{name: "startup giving up is reported though still failure", kind: Startup,
			script: []int{1, 1, 1}, want: []string{"", "", "failure"}, stopsAfter: 3},
		{name: "startup ignores successThreshold", kind: Startup,
			mod:    func(p *corev1.Probe) { p.SuccessThreshold = 3 },
			script: []int{0}, want: []string{"success"}, stopsAfter: 1},
		{name: "liveness ignores successThreshold", kind: Liveness,
			mod:    func(p *corev1.Probe) { p.SuccessThreshold, p.FailureThreshold = 5, 1 },
			script: []int{1}, want: []string{"failure"}, stopsAfter: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := newScriptExecer("c1", map[string][]int{"check": tt.script})
			h := startTestWorker(t, context.Background(), tt.kind, execProbeSpec("check", tt.mod), t0, ex)
			want := []Update{}
			current := tt.kind.initialResult()
			for i := range tt.script {
				if i == 0 {
					h.settle()
				} else {
					h.tick()
				}
				if got := ex.callCount("check"); got != i+1 {
					t.Fatalf("after call %d: %d calls", i+1, got)
				}
				if tt.want[i] != "" {
					current = map[string]Result{"success": Success, "failure": Failure}[tt.want[i]]
					want = append(want, Update{Key: h.key, Result: current, Message: fmt.Sprintf("command exited with code 1: check #%d", i+1)})
					if current == Success {
						want[len(want)-1].Message = fmt.Sprintf("check #%d", i+1)
					}
				}
				if got := h.log.all(); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("after call %d: updates\n got %v\nwant %v", i+1, got, want)
				}
				if got := h.w.current(); got != current {
					t.Fatalf("after call %d: current() = %v, want %v", i+1, got, current)
				}
			}
			// Let more periods pass: a holding worker probes no more.
			for range 3 {
				h.tick()
			}
			wantCalls := len(tt.script) + 3
			if tt.stopsAfter > 0 {
				wantCalls = tt.stopsAfter
				if !h.done() {
					t.Fatal("worker still running, want it to hold")
				}
			} else if h.done() {
				t.Fatal("worker returned, want it to keep probing")
			}
			if got := ex.callCount("check"); got != wantCalls {
				t.Fatalf("%d calls in all, want %d", got, wantCalls)
			}
			if got := len(h.log.all()); got != len(want) {
				t.Fatalf("%d updates in all, want %d", got, len(want))
			}
			if ex.overlapped() {
				t.Fatal("probe ran concurrently with itself")
			}
		})
	}
}

func TestWorkerInitialResult(t *testing.T) {
	for kind, want := range map[Kind]Result{Liveness: Success, Readiness: Failure, Startup: Failure} {
		t.Run(kind.String(), func(t *testing.T) {
			ex := newScriptExecer("c1", nil)
			p := execProbeSpec("check", func(p *corev1.Probe) { p.InitialDelaySeconds = 60 })
			h := startTestWorker(t, context.Background(), kind, p, t0, ex)
			h.settle()
			if got := h.w.current(); got != want {
				t.Fatalf("current() = %v before any probe, want %v", got, want)
			}
			if n := ex.callCount("check"); n != 0 {
				t.Fatalf("%d calls during the initial delay", n)
			}
			if u := h.log.all(); len(u) != 0 {
				t.Fatalf("updates before any probe: %v", u)
			}
		})
	}
}

func TestWorkerInitialDelayCountsFromContainerStart(t *testing.T) {
	p := execProbeSpec("check", func(p *corev1.Probe) { p.InitialDelaySeconds = 5 })

	t.Run("started 2s ago: first probe 3s from now", func(t *testing.T) {
		ex := newScriptExecer("c1", nil)
		h := startTestWorker(t, context.Background(), Readiness, p, t0.Add(-2*time.Second), ex)
		h.settle()
		h.fc.Step(3*time.Second - time.Nanosecond)
		h.settle()
		if n := ex.callCount("check"); n != 0 {
			t.Fatalf("%d calls before the initial delay passed", n)
		}
		h.fc.Step(time.Nanosecond)
		h.settle()
		if n := ex.callCount("check"); n != 1 {
			t.Fatalf("%d calls once the initial delay passed, want 1", n)
		}
		// Then every periodSeconds (default 10s).
		h.fc.Step(10*time.Second - time.Nanosecond)
		h.settle()
		if n := ex.callCount("check"); n != 1 {
			t.Fatalf("%d calls before the period passed, want 1", n)
		}
		h.fc.Step(time.Nanosecond)
		h.settle()
		if n := ex.callCount("check"); n != 2 {
			t.Fatalf("%d calls after one period, want 2", n)
		}
	})

	t.Run("started 10s ago: probes at once", func(t *testing.T) {
		ex := newScriptExecer("c1", nil)
		h := startTestWorker(t, context.Background(), Readiness, p, t0.Add(-10*time.Second), ex)
		h.settle()
		if n := ex.callCount("check"); n != 1 {
			t.Fatalf("%d calls, want 1 without waiting", n)
		}
		if u := h.log.all(); len(u) != 1 || u[0].Result != Success {
			t.Fatalf("updates %v, want one success", u)
		}
	})
}

func TestWorkerStop(t *testing.T) {
	t.Run("no probe and no callback after Stop", func(t *testing.T) {
		ex := newScriptExecer("c1", map[string][]int{"check": {0, 1}})
		p := execProbeSpec("check", func(p *corev1.Probe) { p.FailureThreshold = 1 })
		h := startTestWorker(t, context.Background(), Liveness, p, t0, ex)
		h.settle()
		h.w.Stop()
		<-h.w.done
		for range 5 {
			h.fc.Step(time.Hour)
		}
		if n := ex.callCount("check"); n != 1 {
			t.Fatalf("%d calls, want only the one before Stop", n)
		}
		if u := h.log.all(); len(u) != 0 {
			t.Fatalf("updates after Stop: %v", u)
		}
		h.w.Stop() // twice is harmless
	})

	t.Run("a probe in flight at Stop is not reported", func(t *testing.T) {
		ex := newScriptExecer("c1", map[string][]int{"check": {hang}})
		ex.started = make(chan string, 1)
		p := execProbeSpec("check", func(p *corev1.Probe) { p.FailureThreshold = 1 })
		h := startTestWorker(t, context.Background(), Liveness, p, t0, ex)
		<-ex.started
		h.w.Stop() // the hanging call then returns exit 1, which would flip liveness
		<-h.w.done
		if u := h.log.all(); len(u) != 0 {
			t.Fatalf("updates after Stop: %v", u)
		}
		if got := h.w.current(); got != Success {
			t.Fatalf("current() = %v, want the initial success", got)
		}
	})

	t.Run("cancelling the context stops it", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		ex := newScriptExecer("c1", map[string][]int{"check": {0, 1}})
		p := execProbeSpec("check", func(p *corev1.Probe) { p.FailureThreshold = 1 })
		h := startTestWorker(t, ctx, Liveness, p, t0, ex)
		h.settle()
		cancel()
		<-h.w.done
		h.fc.Step(time.Hour)
		if n := ex.callCount("check"); n != 1 {
			t.Fatalf("%d calls, want 1", n)
		}
		if u := h.log.all(); len(u) != 0 {
			t.Fatalf("updates after cancel: %v", u)
		}
	})
}

func TestWorkerNeverOverlapsItself(t *testing.T) {
	ex := newScriptExecer("c1", map[string][]int{"check": {hang, 0}})
	ex.started = make(chan string, 2)
	ex.release = make(chan struct{})
	h := startTestWorker(t, context.Background(), Readiness, execProbeSpec("check", nil), t0, ex)
	<-ex.started
	// Periods pass while the first check hangs: no second one starts.
	for range 5 {
		h.fc.Step(h.period)
	}
	if n := ex.callCount("check"); n != 1 {
		t.Fatalf("%d calls while the first hangs, want 1", n)
	}
	close(ex.release)
	h.settle()
	// The period passed during the hang: one check at once, not a burst.
	if n := ex.callCount("check"); n != 2 {
		t.Fatalf("%d calls after the hang ended, want 2", n)
	}
	h.tick()
	if n := ex.callCount("check"); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
	if ex.overlapped() {
		t.Fatal("probe ran concurrently with itself")
	}
}
