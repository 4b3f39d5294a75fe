package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// loadErrorsKept is how many of the latest failures a loader remembers.
const loadErrorsKept = 20

// loader sends GET requests to one URL at a steady rate, each on a new
// connection (so a Service balances every request, not every keep-alive
// connection), without waiting for earlier answers: a request that hangs
// does not slow the others down. It counts what it sent and what failed.
type loader struct {
	url     string
	rate    float64 // requests per second
	timeout time.Duration
	report  time.Duration // how often a counters line goes to the log
	log     *slog.Logger
	client  *http.Client
	now     func() time.Time

	stopOnce sync.Once
	stopped  chan struct{} // closed by stop: no new requests
	done     chan struct{} // closed by run once the last request finished

	sent, ok, failed, pending atomic.Int64

	mu     sync.Mutex
	errors []loadError // the latest failures, oldest first
}

// loadError is one failed request: a transport error or a status other
// than 2xx.
type loadError struct {
	Time  time.Time `json:"time"`
	Error string    `json:"error"`
}

// loadStats is what GET /load answers.
type loadStats struct {
	URL      string      `json:"url"`
	Rate     float64     `json:"rate"`
	Sent     int64       `json:"sent"`     // requests started
	OK       int64       `json:"ok"`       // answered 2xx, body read
	Failed   int64       `json:"failed"`   // anything else
	InFlight int64       `json:"inFlight"` // started, not finished yet
	Stopped  bool        `json:"stopped"`  // POST /load/stop was called
	Errors   []loadError `json:"errors"`   // the latest failures, oldest first
}

func newLoader(cfg config, log *slog.Logger) *loader {
	return &loader{
		url:     cfg.loadURL,
		rate:    cfg.loadRate,
		timeout: cfg.loadTimeout,
		report:  cfg.loadReport,
		log:     log,
		// A new connection each time: no keep-alive, no connection reuse.
		client: &http.Client{
			Timeout:   cfg.loadTimeout,
			Transport: &http.Transport{DisableKeepAlives: true},
		},
		now:     time.Now,
		stopped: make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// run sends requests until ctx ends or stop is called, then waits for the
// requests in flight and logs the final counters. The schedule is fixed
// at start: after t seconds, t×rate requests have been started, however
// late the process got the CPU.
func (l *loader) run(ctx context.Context) {
	defer close(l.done)
	var inFlight sync.WaitGroup
	l.log.Info("load started", "url", l.url, "rate", l.rate, "timeout", l.timeout)
	start := l.now()
	interval := time.Duration(float64(time.Second) / l.rate)
	tick := time.NewTicker(min(interval, 10*time.Millisecond))
	defer tick.Stop()
	var reportC <-chan time.Time
	if l.report > 0 {
		r := time.NewTicker(l.report)
		defer r.Stop()
		reportC = r.C
	}
	var started int64
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-l.stopped:
			break loop
		case <-reportC:
			l.logCounters("load")
		case <-tick.C:
			due := int64(l.now().Sub(start).Seconds() * l.rate)
			for ; started < due; started++ {
				l.sent.Add(1)
				l.pending.Add(1)
				inFlight.Go(func() { l.one(ctx) })
			}
		}
	}
	inFlight.Wait()
	l.logCounters("load stopped")
}

// one sends one request and counts its outcome.
func (l *loader) one(ctx context.Context) {
	defer l.pending.Add(-1)
	err := l.get(ctx)
	if err == nil {
		l.ok.Add(1)
		return
	}
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errors = append(l.errors, loadError{Time: l.now(), Error: err.Error()})
	if len(l.errors) > loadErrorsKept {
		l.errors = l.errors[len(l.errors)-loadErrorsKept:]
	}
}

func (l *loader) get(ctx context.Context) error {
	// The request is not tied to ctx: requests in flight when the load
	// stops still finish (or time out) and are counted.
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, l.url, nil)
	if err != nil {
		return err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// stop ends the sending; requests in flight still finish and count.
func (l *loader) stop() { l.stopOnce.Do(func() { close(l.stopped) }) }

func (l *loader) stats() loadStats {
	l.mu.Lock()
	errs := append([]loadError{}, l.errors...)
	l.mu.Unlock()
	stopped := false
	select {
	case <-l.stopped:
		stopped = true
	default:
	}
	// Outcomes first, sent last: a request already counted as done has
	// been counted as sent, so sent >= ok + failed.
	ok, failed, pending := l.ok.Load(), l.failed.Load(), l.pending.Load()
	return loadStats{URL: l.url, Rate: l.rate, Sent: l.sent.Load(), OK: ok, Failed: failed,
		InFlight: pending, Stopped: stopped, Errors: errs}
}

func (l *loader) logCounters(msg string) {
	st := l.stats()
	args := []any{"sent", st.Sent, "ok", st.OK, "failed", st.Failed, "inFlight", st.InFlight}
	if n := len(st.Errors); n > 0 {
		args = append(args, "lastError", st.Errors[n-1].Error)
	}
	l.log.Info(msg, args...)
}

// loadStatus answers GET /load: the counters as JSON, 404 without LOAD_URL.
func (s *server) loadStatus(w http.ResponseWriter, r *http.Request) {
	if s.load == nil {
		http.Error(w, "no load: LOAD_URL is not set", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(s.load.stats()) // a failed write is the client's loss only
}

// loadStop answers POST /load/stop: no new requests from now on; the
// answer comes once those in flight have finished, with the final counters.
func (s *server) loadStop(w http.ResponseWriter, r *http.Request) {
	if s.load == nil {
		http.Error(w, "no load: LOAD_URL is not set", http.StatusNotFound)
		return
	}
	s.load.stop()
	select {
	case <-s.load.done:
	case <-r.Context().Done():
		return
	}
	s.log.Info("load stopped by request")
	s.loadStatus(w, r)
}
