package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// server holds what the handlers share: the configuration, the switchable
// probe state and the request counter. The function fields reach the
// process's surroundings; tests replace them.
type server struct {
	cfg      config
	log      *slog.Logger // stdout: start-up and request lines
	logErr   *slog.Logger // stderr: errors
	hostname string
	started  time.Time

	now      func() time.Time
	getenv   func(string) string
	environ  func() []string
	ifAddrs  func() ([]net.Addr, error)
	resolver resolver

	healthzFail atomic.Bool
	readyzFail  atomic.Bool
	requests    atomic.Uint64 // GET / answered, for the report
	load        *loader       // nil without $LOAD_URL
	// draining is set at SIGTERM: every answer from then on closes its
	// connection, so keep-alive clients leave before the shutdown.
	draining atomic.Bool
}

func newServer(cfg config, logOut, logErr *slog.Logger) *server {
	hostname, err := os.Hostname()
	if err != nil {
		logErr.Error("hostname", "err", err)
	}
	s := &server{
		cfg:      cfg,
		log:      logOut,
		logErr:   logErr,
		hostname: hostname,
		started:  time.Now(),
		now:      time.Now,
		getenv:   os.Getenv,
		environ:  os.Environ,
		ifAddrs:  net.InterfaceAddrs,
		resolver: &net.Resolver{PreferGo: true},
	}
	s.healthzFail.Store(cfg.healthzFail)
	s.readyzFail.Store(cfg.readyzFail)
	return s
}

// handler routes every endpoint and logs one line per request.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.report)
	mux.HandleFunc("GET /files/{path...}", s.files)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("POST /healthz/fail", s.setFailing("healthz", &s.healthzFail, true))
	mux.HandleFunc("POST /healthz/ok", s.setFailing("healthz", &s.healthzFail, false))
	mux.HandleFunc("POST /readyz/fail", s.setFailing("readyz", &s.readyzFail, true))
	mux.HandleFunc("POST /readyz/ok", s.setFailing("readyz", &s.readyzFail, false))
	mux.HandleFunc("GET /burn", s.burn)
	mux.HandleFunc("GET /resolve", s.resolve)
	mux.HandleFunc("GET /sleep", s.sleep)
	mux.HandleFunc("GET /load", s.loadStatus)
	mux.HandleFunc("POST /load/stop", s.loadStop)
	return s.logRequests(s.closeWhenDraining(mux))
}

// closeWhenDraining answers "Connection: close" once the server drains:
// a keep-alive client then opens its next connection elsewhere instead of
// sending a request on a connection the shutdown closes under it.
func (s *server) closeWhenDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	probeAnswer(w, !s.healthzFail.Load())
}

// readyz fails while switched to failing and, independently, until
// READY_AFTER has passed since start.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	warm := s.now().Sub(s.started) >= s.cfg.readyAfter
	probeAnswer(w, warm && !s.readyzFail.Load())
}

func probeAnswer(w http.ResponseWriter, ok bool) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "failing")
		return
	}
	fmt.Fprintln(w, "ok")
}

func (s *server) setFailing(probe string, flag *atomic.Bool, failing bool) http.HandlerFunc {
	state := "ok"
	if failing {
		state = "failing"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		flag.Store(failing)
		s.log.Info(probe+" switched", "state", state)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s %s\n", probe, state)
	}
}

// logRequests writes one stdout line per request once it is answered.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.Info("request",
			"method", r.Method,
			"uri", r.RequestURI,
			"remote", r.RemoteAddr,
			"status", rec.status,
			"bytes", rec.bytes,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
