package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newTestServer(t *testing.T, cfg config) *server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	s := newServer(cfg, log, log)
	s.hostname = "pod-a"
	s.getenv = func(string) string { return "" }
	s.environ = func() []string { return []string{"ZED=last", "ALPHA=1", "EQ=a=b"} }
	s.ifAddrs = func() ([]net.Addr, error) { return nil, nil }
	return s
}

// do sends one request through the full handler and returns status and body.
func do(t *testing.T, h http.Handler, method, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Code, rec.Body.String()
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    func(*config)
		wantErr string
	}{
		{name: "defaults", env: nil, want: func(*config) {}},
		{
			name: "all set",
			env: map[string]string{"PORT": "9090", "FILES_DIR": "/cfg", "HEALTHZ_FAIL": "1",
				"READYZ_FAIL": "true", "READY_AFTER": "2s", "SHUTDOWN_DELAY": "5", "LISTEN_DELAY": "1500ms",
				"LOAD_URL": "http://web/", "LOAD_RATE": "62.5", "LOAD_TIMEOUT": "1s", "LOAD_REPORT": "0"},
			want: func(c *config) {
				c.addr, c.filesDir, c.healthzFail, c.readyzFail = ":9090", "/cfg", true, true
				c.readyAfter, c.shutdownDelay, c.listenDelay = 2*time.Second, 5*time.Second, 1500*time.Millisecond
				c.loadURL, c.loadRate, c.loadTimeout, c.loadReport = "http://web/", 62.5, time.Second, 0
			},
		},
		{name: "bad port", env: map[string]string{"PORT": "http"}, wantErr: `PORT="http"`},
		{name: "port zero", env: map[string]string{"PORT": "0"}, wantErr: `PORT="0"`},
		{name: "bad bool", env: map[string]string{"READYZ_FAIL": "yes"}, wantErr: `READYZ_FAIL="yes"`},
		{name: "negative delay", env: map[string]string{"SHUTDOWN_DELAY": "-1s"}, wantErr: "SHUTDOWN_DELAY"},
		{name: "bad listen delay", env: map[string]string{"LISTEN_DELAY": "soon"}, wantErr: "LISTEN_DELAY"},
		{name: "load URL without scheme", env: map[string]string{"LOAD_URL": "web:80"}, wantErr: `LOAD_URL="web:80"`},
		{name: "load rate zero", env: map[string]string{"LOAD_RATE": "0"}, wantErr: `LOAD_RATE="0"`},
		{name: "load rate not a number", env: map[string]string{"LOAD_RATE": "fast"}, wantErr: `LOAD_RATE="fast"`},
		{name: "load timeout zero", env: map[string]string{"LOAD_TIMEOUT": "0"}, wantErr: "LOAD_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := defaultConfig()
			tt.want(&want)
			if got != want {
				t.Fatalf("config = %+v, want %+v", got, want)
			}
		})
	}
}

func TestReportText(t *testing.T) {
	s := newTestServer(t, defaultConfig())
	s.getenv = func(k string) string {
		if k == "POD_IP" {
			return "10.42.0.7"
		}
		return ""
	}
	h := s.handler()
	do(t, h, "GET", "/")
	code, body := do(t, h, "GET", "/")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{
		"hostname: pod-a\n", "pod IP: 10.42.0.7\n", "remote address: 192.0.2.1:1234\n",
		"requests: 2\n", "env:\n  ALPHA=1\n  EQ=a=b\n  ZED=last\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("report lacks %q:\n%s", want, body)
		}
	}
}

func TestReportJSON(t *testing.T) {
	s := newTestServer(t, defaultConfig())
	s.ifAddrs = func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.ParseIP("fd00::5"), Mask: net.CIDRMask(64, 128)},
			&net.IPNet{IP: net.ParseIP("10.42.1.9"), Mask: net.CIDRMask(24, 32)},
		}, nil
	}
	code, body := do(t, s.handler(), "GET", "/?format=json")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	var rep report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, body)
	}
	if rep.Hostname != "pod-a" || rep.PodIP != "10.42.1.9" || rep.Requests != 1 ||
		rep.RemoteAddr != "192.0.2.1:1234" || rep.Env["EQ"] != "a=b" || len(rep.Env) != 3 {
		t.Fatalf("report = %+v", rep)
	}
	if code, _ := do(t, s.handler(), "GET", "/?format=xml"); code != http.StatusBadRequest {
		t.Fatalf("format=xml: status %d, want 400", code)
	}
	if code, _ := do(t, s.handler(), "GET", "/nowhere"); code != http.StatusNotFound {
		t.Fatalf("/nowhere: status %d, want 404", code)
	}
}

func TestProbesFlip(t *testing.T) {
	for _, probe := range []string{"healthz", "readyz"} {
		t.Run(probe, func(t *testing.T) {
			h := newTestServer(t, defaultConfig()).handler()
			steps := []struct {
				method, path string
				code         int
				body         string
			}{
				{"GET", "/" + probe, 200, "ok\n"},
				{"POST", "/" + probe + "/fail", 200, probe + " failing\n"},
				{"GET", "/" + probe, 503, "failing\n"},
				{"POST", "/" + probe + "/fail", 200, probe + " failing\n"},
				{"GET", "/" + probe, 503, "failing\n"},
				{"GET", "/" + probe + "/ok", 405, ""},
				{"GET", "/" + probe, 503, "failing\n"},
				{"POST", "/" + probe + "/ok", 200, probe + " ok\n"},
				{"GET", "/" + probe, 200, "ok\n"},
			}
			for i, st := range steps {
				code, body := do(t, h, st.method, st.path)
				if code != st.code || (st.body != "" && body != st.body) {
					t.Fatalf("step %d %s %s = %d %q, want %d %q", i, st.method, st.path, code, body, st.code, st.body)
				}
			}
		})
	}
}

func TestProbesFromEnv(t *testing.T) {
	cfg := defaultConfig()
	cfg.healthzFail, cfg.readyzFail = true, true
	h := newTestServer(t, cfg).handler()
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _ := do(t, h, "GET", p); code != 503 {
			t.Errorf("%s = %d, want 503", p, code)
		}
	}
}

func TestReadyAfter(t *testing.T) {
	cfg := defaultConfig()
	cfg.readyAfter = 2 * time.Second
	s := newTestServer(t, cfg)
	now := s.started
	s.now = func() time.Time { return now }
	h := s.handler()
	if code, _ := do(t, h, "GET", "/readyz"); code != 503 {
		t.Fatalf("at start: %d, want 503", code)
	}
	if code, _ := do(t, h, "GET", "/healthz"); code != 200 {
		t.Fatalf("healthz at start: %d, want 200", code)
	}
	now = now.Add(2 * time.Second)
	if code, _ := do(t, h, "GET", "/readyz"); code != 200 {
		t.Fatalf("after 2s: %d, want 200", code)
	}
	do(t, h, "POST", "/readyz/fail")
	if code, _ := do(t, h, "GET", "/readyz"); code != 503 {
		t.Fatalf("switched to failing: %d, want 503", code)
	}
}

func TestFiles(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "data")
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(base, "secret"), "outside")
	write(filepath.Join(dir, "..2026_01_01", "greeting"), "hello from skiff")
	// The way a configMap volume is laid out: key -> ..data/key -> ..<timestamp>/key.
	for link, target := range map[string]string{
		"..data":   "..2026_01_01",
		"greeting": "..data/greeting",
		"escape":   "../secret",
		"abs":      filepath.Join(base, "secret"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := defaultConfig()
	cfg.filesDir = dir
	s := newTestServer(t, cfg)
	h := s.handler()

	tests := []struct {
		path string
		code int
		body string
	}{
		{"/files/greeting", 200, "hello from skiff"},
		{"/files/..data/greeting", 200, "hello from skiff"},
		{"/files/", 200, "..2026_01_01/\n..data\nabs\nescape\ngreeting\n"},
		{"/files/missing", 404, ""},
		{"/files/escape", 404, ""},
		{"/files/abs", 404, ""},
		{"/files/../secret", 0, ""},     // the mux cleans it into /secret
		{"/files/%2e%2e/secret", 0, ""}, // likewise once decoded
	}
	for _, tt := range tests {
		code, body := do(t, h, "GET", tt.path)
		if tt.code != 0 && code != tt.code {
			t.Errorf("%s: status %d, want %d (%s)", tt.path, code, tt.code, body)
		}
		if tt.body != "" && body != tt.body {
			t.Errorf("%s: body %q, want %q", tt.path, body, tt.body)
		}
		if strings.Contains(body, "outside") {
			t.Errorf("%s: served a file outside FILES_DIR", tt.path)
		}
	}

	// The handler itself, past the mux's cleaning.
	for _, p := range []string{"../secret", "a/../../secret", filepath.Join(base, "secret")} {
		req := httptest.NewRequest("GET", "/files/x", nil)
		req.SetPathValue("path", p)
		rec := httptest.NewRecorder()
		s.files(rec, req)
		if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "outside") {
			t.Errorf("path %q: %d %q, want 404", p, rec.Code, rec.Body)
		}
	}

	s.cfg.filesDir = filepath.Join(base, "absent")
	if code, _ := do(t, h, "GET", "/files/greeting"); code != 404 {
		t.Errorf("absent FILES_DIR: %d, want 404", code)
	}
}

func TestBurn(t *testing.T) {
	cfg := defaultConfig()
	cfg.maxBurn = 30 * time.Millisecond
	h := newTestServer(t, cfg).handler()

	start := time.Now()
	code, body := do(t, h, "GET", "/burn?ms=10")
	if code != 200 || !strings.HasPrefix(body, "burned ") || strings.Contains(body, "capped") {
		t.Fatalf("ms=10: %d %q", code, body)
	}
	if time.Since(start) < 10*time.Millisecond {
		t.Fatalf("ms=10 answered after %v", time.Since(start))
	}

	start = time.Now()
	code, body = do(t, h, "GET", "/burn?ms=60000")
	if code != 200 || !strings.Contains(body, "capped at 30ms") {
		t.Fatalf("ms=60000: %d %q", code, body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("cap ignored: took %v", took)
	}

	for _, bad := range []string{"-1", "abc", "1.5"} {
		if code, _ := do(t, h, "GET", "/burn?ms="+bad); code != 400 {
			t.Errorf("ms=%s: %d, want 400", bad, code)
		}
	}
	if got := defaultConfig().maxBurn; got != 60*time.Second {
		t.Errorf("default burn cap %v, want 60s", got)
	}
}

func TestSpinStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d := spin(ctx, time.Minute); d > time.Second {
		t.Fatalf("spin ran %v after its context ended", d)
	}
}

func TestSleep(t *testing.T) {
	cfg := defaultConfig()
	cfg.maxSleep = 20 * time.Millisecond
	h := newTestServer(t, cfg).handler()
	start := time.Now()
	code, body := do(t, h, "GET", "/sleep?ms=600000")
	if code != 200 || body != "slept 20ms\n" {
		t.Fatalf("%d %q", code, body)
	}
	if took := time.Since(start); took < 20*time.Millisecond || took > 5*time.Second {
		t.Fatalf("took %v", took)
	}
}

type fakeResolver struct {
	ips  map[string][]net.IP
	srvs map[string][]*net.SRV
	err  error
}

func (f fakeResolver) LookupIP(_ context.Context, network, host string) ([]net.IP, error) {
	if f.err != nil {
		return nil, f.err
	}
	ips, ok := f.ips[network+" "+host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return ips, nil
}

func (f fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if f.err != nil {
		return "", nil, f.err
	}
	if service != "" || proto != "" {
		return "", nil, errors.New("service and proto should be empty")
	}
	srvs, ok := f.srvs[name]
	if !ok {
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return name, srvs, nil
}

func TestResolve(t *testing.T) {
	const svc = "web.default.svc.cluster.local"
	s := newTestServer(t, defaultConfig())
	s.resolver = fakeResolver{
		ips: map[string][]net.IP{
			"ip4 " + svc: {net.ParseIP("10.96.0.10"), net.ParseIP("10.96.0.11")},
			"ip6 " + svc: {net.ParseIP("fd00::a")},
		},
		srvs: map[string][]*net.SRV{
			"_http._tcp." + svc: {{Target: "web-0.web.default.svc.cluster.local.", Port: 80, Priority: 0, Weight: 50}},
		},
	}
	h := s.handler()
	tests := []struct {
		query string
		code  int
		body  string
	}{
		{"name=" + svc, 200, "10.96.0.10\n10.96.0.11\n"},
		{"name=" + svc + "&type=a", 200, "10.96.0.10\n10.96.0.11\n"},
		{"name=" + svc + "&type=AAAA", 200, "fd00::a\n"},
		{"name=_http._tcp." + svc + "&type=SRV", 200, "0 50 80 web-0.web.default.svc.cluster.local.\n"},
		{"name=nope.default.svc.cluster.local", 404, "error: lookup nope.default.svc.cluster.local: no such host\n"},
		{"name=" + svc + "&type=MX", 400, ""},
		{"type=A", 400, ""},
	}
	for _, tt := range tests {
		code, body := do(t, h, "GET", "/resolve?"+tt.query)
		if code != tt.code || (tt.body != "" && body != tt.body) {
			t.Errorf("%s: %d %q, want %d %q", tt.query, code, body, tt.code, tt.body)
		}
	}

	s.resolver = fakeResolver{err: &net.DNSError{Err: "server misbehaving", Name: svc, IsTemporary: true}}
	if code, body := do(t, h, "GET", "/resolve?name="+svc); code != 502 || !strings.Contains(body, "server misbehaving") {
		t.Errorf("SERVFAIL: %d %q, want 502 with the error", code, body)
	}
}

// TestServeDrains sends SIGTERM while a request is in flight: the request
// still completes and serve returns nil.
func TestServeDrains(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.shutdownDelay = 50 * time.Millisecond
	s := newTestServer(t, cfg)
	sigs := make(chan os.Signal, 1)
	served := make(chan error, 1)
	go func() { served <- serve(s, ln, sigs) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/sleep?ms=300")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	time.Sleep(100 * time.Millisecond) // let the request arrive
	sigs <- syscall.SIGTERM

	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after SIGTERM")
	}
	r := <-got
	if r.err != nil || r.body != "slept 300ms\n" {
		t.Fatalf("request in flight: %q, %v", r.body, r.err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
}

// TestServeDrainClosesConnections: after SIGTERM, during SHUTDOWN_DELAY,
// answers carry "Connection: close", so a keep-alive client reconnects
// (elsewhere, behind a Service) instead of having an idle connection
// closed under its next request by the shutdown.
func TestServeDrainClosesConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.shutdownDelay = 500 * time.Millisecond
	s := newTestServer(t, cfg)
	sigs := make(chan os.Signal, 1)
	served := make(chan error, 1)
	go func() { served <- serve(s, ln, sigs) }()

	hc := &http.Client{Timeout: 5 * time.Second} // keep-alive
	get := func() *http.Response {
		t.Helper()
		resp, err := hc.Get("http://" + ln.Addr().String() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := get(); resp.Close || resp.Header.Get("Connection") == "close" {
		t.Fatalf("before SIGTERM: Connection %q, want keep-alive", resp.Header.Get("Connection"))
	}
	sigs <- syscall.SIGTERM
	time.Sleep(100 * time.Millisecond)
	if resp := get(); !resp.Close {
		t.Fatalf("while draining: Connection %q, want close", resp.Header.Get("Connection"))
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
