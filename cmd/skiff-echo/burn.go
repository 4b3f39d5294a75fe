package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// burn spins one core for ?ms= milliseconds (100 if absent, capped at
// maxBurn) or until the client goes away, and answers with the time spent.
func (s *server) burn(w http.ResponseWriter, r *http.Request) {
	want, err := millis(r, 100*time.Millisecond)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d := min(want, s.cfg.maxBurn)
	spent := spin(r.Context(), d)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "burned %v", spent.Round(time.Microsecond))
	if d < want {
		fmt.Fprintf(w, " (asked %v, capped at %v)", want, s.cfg.maxBurn)
	}
	fmt.Fprintln(w)
}

// spin keeps the calling goroutine on the CPU for d, or until ctx ends,
// and returns the time that took.
func spin(ctx context.Context, d time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
	}
	return time.Since(start)
}

// sleep answers after ?ms= milliseconds (1000 if absent, capped at
// maxSleep), or not at all if the client goes away first.
func (s *server) sleep(w http.ResponseWriter, r *http.Request) {
	want, err := millis(r, time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d := min(want, s.cfg.maxSleep)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "slept %v\n", d)
}

// errBadMillis is returned for a ?ms= that is not a whole, non-negative
// number of milliseconds.
var errBadMillis = errors.New("ms: want a whole number of milliseconds")

// millis reads the request's ?ms= parameter, def when it is absent.
func millis(r *http.Request, def time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get("ms")
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, errBadMillis
	}
	return time.Duration(n) * time.Millisecond, nil
}
