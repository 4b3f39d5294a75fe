// Command skiff-echo is the workload of skiff's end-to-end tests: a small
// static HTTP server that reports where it runs and lets a test steer its
// probes, burn CPU, resolve names and drain connections. It is configured
// by its environment only, since it runs as a container entrypoint:
//
//	PORT            port to listen on (8080)
//	FILES_DIR       directory served under /files/ (/data)
//	POD_IP          IP shown in the report (else the first non-loopback IPv4)
//	HEALTHZ_FAIL=1  /healthz starts failing
//	READYZ_FAIL=1   /readyz starts failing
//	READY_AFTER     /readyz fails until this long after start ("2s", or seconds)
//	SHUTDOWN_DELAY  how long to keep serving after SIGTERM (0)
//	LISTEN_DELAY    how long to "start up" before listening (0), as a real
//	                application takes: connections are refused meanwhile
//
// With LOAD_URL set it is also a load generator: it sends GET LOAD_URL
// LOAD_RATE times a second (50), each request on a new connection and
// without waiting for the earlier ones, counts a request failed when it
// errs, takes over LOAD_TIMEOUT (2s) or answers other than 2xx, logs the
// counters every LOAD_REPORT (10s; 0: never) and serves them at /load.
//
// Endpoints:
//
//	GET  /                       hostname, pod IP, env, remote address, counter (?format=json)
//	GET  /files/<path>           a file of FILES_DIR, e.g. a mounted configMap key
//	GET  /healthz, /readyz       200 "ok" or 503 "failing"
//	POST /healthz/fail, /healthz/ok, /readyz/fail, /readyz/ok
//	GET  /burn?ms=500            spin one core that long (at most 60s)
//	GET  /resolve?name=N&type=A  look N up (A, AAAA or SRV) with Go's resolver
//	GET  /sleep?ms=500           answer after that long
//	GET  /load                   the load's counters: sent, ok, failed, inFlight, latest errors (JSON)
//	POST /load/stop              stop sending; answers the final counters once none is in flight
//
// On SIGTERM or SIGINT it logs "SIGTERM received" (or SIGINT), stops its
// load, keeps serving for SHUTDOWN_DELAY with every answer closing its
// connection ("Connection: close": keep-alive clients reconnect, to another
// endpoint, rather than lose a request to the shutdown closing an idle
// connection), then shuts the HTTP server down gracefully, waiting at most
// 30s for requests in flight, and exits 0. A signal during LISTEN_DELAY
// ends it at once. Arguments are ignored.
//
// Start-up lines and one line per request go to stdout, errors to stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownTimeout bounds how long a graceful shutdown waits for requests
// in flight before it closes their connections.
const shutdownTimeout = 30 * time.Second

func main() {
	logOut := slog.New(slog.NewTextHandler(os.Stdout, nil))
	logErr := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logOut, logErr); err != nil {
		logErr.Error("skiff-echo failed", "err", err)
		os.Exit(1)
	}
}

func run(logOut, logErr *slog.Logger) error {
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if len(os.Args) > 1 {
		logOut.Info("ignoring arguments", "args", os.Args[1:])
	}
	// Registered before listening so that a SIGTERM arriving right after
	// start-up is a graceful shutdown rather than the default exit.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	s := newServer(cfg, logOut, logErr)
	if cfg.loadURL != "" {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s.load = newLoader(cfg, logOut)
		go s.load.run(ctx)
		defer func() { s.load.stop(); <-s.load.done }()
	}
	ln, err := listenAfterDelay(cfg, sigs, logOut)
	if err != nil || ln == nil {
		return err
	}
	logOut.Info("listening on "+cfg.addr, "hostname", s.hostname, "filesDir", cfg.filesDir)
	return serve(s, ln, sigs)
}

// listenAfterDelay listens on cfg.addr once cfg.listenDelay has passed.
// A signal arriving before that ends the start-up: no listener, no error.
func listenAfterDelay(cfg config, sigs <-chan os.Signal, log *slog.Logger) (net.Listener, error) {
	if cfg.listenDelay > 0 {
		log.Info("starting up", "listenDelay", cfg.listenDelay)
		t := time.NewTimer(cfg.listenDelay)
		defer t.Stop()
		select {
		case sig := <-sigs:
			log.Info(signalName(sig) + " received before listening")
			return nil, nil
		case <-t.C:
		}
	}
	return net.Listen("tcp", cfg.addr)
}

// serve answers on ln until a signal arrives on sigs, then drains: it keeps
// serving for the configured shutdown delay, shuts down gracefully and
// returns nil. It returns an error only when serving itself fails.
func serve(s *server, ln net.Listener, sigs <-chan os.Signal) error {
	srv := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logErr.Handler(), slog.LevelError),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case sig := <-sigs:
		s.log.Info(signalName(sig)+" received", "shutdownDelay", s.cfg.shutdownDelay)
	}
	s.draining.Store(true)
	if s.load != nil {
		s.load.stop()
	}
	time.Sleep(s.cfg.shutdownDelay)

	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		s.logErr.Error("graceful shutdown incomplete, closing connections", "err", err)
		if err := srv.Close(); err != nil {
			s.logErr.Error("close", "err", err)
		}
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		s.logErr.Error("serve", "err", err)
	}
	s.log.Info("stopped")
	return nil
}

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return sig.String()
}
