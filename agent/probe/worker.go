package probe

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// workerConfig is what one worker needs; every field is required.
type workerConfig struct {
	Key    Key
	Probe  *corev1.Probe
	Target Target
	Prober Prober
	// StartedAt is when the container started: the first probe runs
	// initialDelaySeconds after it, however late the worker was created.
	StartedAt time.Time
	Clock     clock.Clock
	// OnUpdate receives the worker's changes, on the worker's goroutine.
	OnUpdate func(Update)
	Logger   *slog.Logger
}

// worker runs one probe of one container on its schedule, one check at a
// time, and turns results into a state that flips only after
// successThreshold successes or failureThreshold failures in a row.
//
// A liveness or startup worker stops probing once it reports Failure (the
// container is to be restarted, which makes a new worker), and a startup
// worker once it reports Success (it has nothing more to decide); the last
// result stays readable.
type worker struct {
	key      Key
	probe    *corev1.Probe
	target   Target
	prober   Prober
	timing   timing
	started  time.Time
	clock    clock.Clock
	onUpdate func(Update)
	log      *slog.Logger

	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned

	// Only the worker's goroutine touches these.
	streakResult Result // what the current streak is of
	streak       int    // how many probes in a row gave streakResult
	lastUnknown  string // last Unknown message logged, to log each once

	mu      sync.Mutex
	stopped bool
	result  Result
}

// startWorker starts a worker that runs until ctx is cancelled, Stop is
// called, or its probe kind has nothing more to decide.
func startWorker(ctx context.Context, cfg workerConfig) *worker {
	ctx, cancel := context.WithCancel(ctx)
	w := &worker{
		key:      cfg.Key,
		probe:    cfg.Probe,
		target:   cfg.Target,
		prober:   cfg.Prober,
		timing:   timingFor(cfg.Key.Kind, cfg.Probe),
		started:  cfg.StartedAt,
		clock:    cfg.Clock,
		onUpdate: cfg.OnUpdate,
		log:      cfg.Logger,
		cancel:   cancel,
		done:     make(chan struct{}),
		result:   cfg.Key.Kind.initialResult(),
	}
	if cfg.Probe.SuccessThreshold > 1 && cfg.Key.Kind != Readiness {
		w.log.Warn("successThreshold must be 1 for this probe kind; using 1", "successThreshold", cfg.Probe.SuccessThreshold)
	}
	go w.run(ctx)
	return w
}

// Stop ends the worker. No callback starts after Stop returns; one that
// was already being delivered may still be running. Stop does not wait for
// the goroutine, so it is safe to call from the callback itself, and
// calling it twice is harmless.
func (w *worker) Stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.cancel()
}

// current is the worker's result: the kind's initial result until a
// threshold was reached.
func (w *worker) current() Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.result
}

func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	next := w.started.Add(w.timing.initialDelay)
	for {
		if !w.sleepUntil(ctx, next) {
			return
		}
		begun := w.clock.Now()
		if !w.probeOnce(ctx) {
			return
		}
		next = begun.Add(w.timing.period)
	}
}

// sleepUntil waits for the clock to reach t; false means ctx ended first.
func (w *worker) sleepUntil(ctx context.Context, t time.Time) bool {
	d := t.Sub(w.clock.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := w.clock.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C():
		return ctx.Err() == nil
	}
}

// probeOnce runs one check and applies the thresholds; false means the
// worker is done.
func (w *worker) probeOnce(ctx context.Context) bool {
	res, msg := w.prober.Probe(ctx, w.probe, w.target)
	if ctx.Err() != nil {
		return false // stopped during the check: its result is nobody's
	}
	if res == Unknown {
		if msg != w.lastUnknown {
			w.log.Warn("probe could not run", "message", msg)
			w.lastUnknown = msg
		}
		return true
	}
	w.lastUnknown = ""
	if res == w.streakResult {
		w.streak++
	} else {
		w.streakResult, w.streak = res, 1
	}
	threshold := w.timing.successThreshold
	if res == Failure {
		threshold = w.timing.failureThreshold
	}
	if w.streak < threshold {
		return true
	}
	w.set(ctx, res, msg)
	switch {
	case res == Failure && w.key.Kind != Readiness:
		return false // the container is to be restarted: hold until then
	case res == Success && w.key.Kind == Startup:
		return false // started for good
	}
	return true
}

// set records a decided result and reports it if it changed, or if it is
// a startup probe giving up (Failure both before and after, but now final).
func (w *worker) set(ctx context.Context, res Result, msg string) {
	w.mu.Lock()
	if w.stopped || ctx.Err() != nil {
		w.mu.Unlock()
		return
	}
	changed := res != w.result
	w.result = res
	w.mu.Unlock()
	if !changed && (w.key.Kind != Startup || res != Failure) {
		return
	}
	w.log.Info("probe result", "result", res.String(), "message", msg)
	w.onUpdate(Update{Key: w.key, Result: res, Message: msg})
}
