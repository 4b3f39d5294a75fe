package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func newTestLoader(t *testing.T, url string, rate float64, timeout time.Duration) *loader {
	t.Helper()
	cfg := defaultConfig()
	cfg.loadURL, cfg.loadRate, cfg.loadTimeout, cfg.loadReport = url, rate, timeout, 0
	return newLoader(cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
}

// runFor runs l for d, stops it and waits until its last request is done.
func runFor(t *testing.T, l *loader, d time.Duration) loadStats {
	t.Helper()
	go l.run(context.Background())
	time.Sleep(d)
	l.stop()
	select {
	case <-l.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loader did not finish after stop")
	}
	return l.stats()
}

// TestLoaderSteadyFreshConnections: the loader keeps its rate and opens a
// connection per request.
func TestLoaderSteadyFreshConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello\n"))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	l := newTestLoader(t, srv.URL+"/", 200, time.Second)
	st := runFor(t, l, 500*time.Millisecond)
	// 100 due in 0.5 s; allow for a slow machine on either side.
	if st.Sent < 70 || st.Sent > 130 {
		t.Errorf("sent %d in 0.5 s at 200/s", st.Sent)
	}
	if st.Failed != 0 || st.OK != st.Sent || st.InFlight != 0 || !st.Stopped || len(st.Errors) != 0 {
		t.Errorf("stats = %+v, want every request ok, none in flight", st)
	}
	if got := conns.Load(); got != st.Sent {
		t.Errorf("%d connections for %d requests, want one each", got, st.Sent)
	}
}

// TestLoaderCountsFailures: a status other than 2xx, a refused connection
// and a request slower than the timeout each count as failed, with the
// latest errors kept.
func TestLoaderCountsFailures(t *testing.T) {
	var n atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer flaky.Close()
	st := runFor(t, newTestLoader(t, flaky.URL, 100, time.Second), 300*time.Millisecond)
	if st.Failed == 0 || st.OK == 0 || st.OK+st.Failed != st.Sent {
		t.Errorf("every other request 503: %+v", st)
	}
	if len(st.Errors) == 0 || len(st.Errors) > loadErrorsKept || !strings.Contains(st.Errors[0].Error, "status 503") {
		t.Errorf("errors kept: %+v", st.Errors)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	st = runFor(t, newTestLoader(t, closed, 100, time.Second), 300*time.Millisecond)
	if st.Sent == 0 || st.Failed != st.Sent || !strings.Contains(st.Errors[len(st.Errors)-1].Error, "connection refused") {
		t.Errorf("nothing listening: %+v", st)
	}
	if len(st.Errors) != min(int(st.Sent), loadErrorsKept) {
		t.Errorf("%d errors kept of %d failures, want the latest %d", len(st.Errors), st.Failed, loadErrorsKept)
	}

	// Answers that never come: the rate holds (no request waits for
	// another), and each fails at the timeout.
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	l := newTestLoader(t, slow.URL, 100, 200*time.Millisecond)
	go l.run(context.Background())
	time.Sleep(150 * time.Millisecond)
	if mid := l.stats(); mid.Sent < 8 || mid.InFlight == 0 {
		t.Errorf("while the answers hang: %+v, want requests going on", mid)
	}
	l.stop()
	<-l.done
	st = l.stats()
	if st.Failed != st.Sent || st.InFlight != 0 || !strings.Contains(st.Errors[0].Error, "Timeout") {
		t.Errorf("after the timeout: %+v", st)
	}
}

// TestLoadEndpoints: GET /load serves the counters, POST /load/stop the
// final ones; both are 404 without a load.
func TestLoadEndpoints(t *testing.T) {
	h := newTestServer(t, defaultConfig()).handler()
	if code, _ := do(t, h, "GET", "/load"); code != http.StatusNotFound {
		t.Fatalf("GET /load without LOAD_URL: %d, want 404", code)
	}
	if code, _ := do(t, h, "POST", "/load/stop"); code != http.StatusNotFound {
		t.Fatalf("POST /load/stop without LOAD_URL: %d, want 404", code)
	}

	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	s := newTestServer(t, defaultConfig())
	s.load = newTestLoader(t, target.URL, 100, time.Second)
	go s.load.run(context.Background())
	h = s.handler()
	time.Sleep(200 * time.Millisecond)
	code, body := do(t, h, "GET", "/load")
	var st loadStats
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("GET /load: %d %v\n%s", code, err, body)
	}
	if st.URL != target.URL || st.Rate != 100 || st.Sent == 0 || st.Stopped {
		t.Fatalf("GET /load: %+v", st)
	}
	code, body = do(t, h, "POST", "/load/stop")
	var final loadStats
	if err := json.Unmarshal([]byte(body), &final); code != 200 || err != nil {
		t.Fatalf("POST /load/stop: %d %v\n%s", code, err, body)
	}
	if !final.Stopped || final.InFlight != 0 || final.Sent < st.Sent || final.OK != final.Sent {
		t.Fatalf("POST /load/stop: %+v", final)
	}
	time.Sleep(100 * time.Millisecond)
	if later := s.load.stats(); later.Sent != final.Sent {
		t.Fatalf("requests sent after stop: %d, then %d", final.Sent, later.Sent)
	}
}

// TestListenDelay: nothing listens during LISTEN_DELAY; a signal then
// ends the start-up.
func TestListenDelay(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	cfg := defaultConfig()
	cfg.addr, cfg.listenDelay = "127.0.0.1:0", 300*time.Millisecond
	start := time.Now()
	ln, err := listenAfterDelay(cfg, make(chan os.Signal), log)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("listening after %v, want the 300ms delay first", took)
	}

	cfg.listenDelay = time.Minute
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	start = time.Now()
	ln, err = listenAfterDelay(cfg, sigs, log)
	if ln != nil || err != nil || time.Since(start) > 5*time.Second {
		t.Fatalf("SIGTERM while starting: %v %v after %v, want no listener, no error, at once", ln, err, time.Since(start))
	}
}
