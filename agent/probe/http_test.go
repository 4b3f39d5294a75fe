package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// hostPort splits an httptest server's URL into host and port.
func hostPort(t *testing.T, rawURL string) (string, int) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname(), port
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func TestHTTPProbe(t *testing.T) {
	// other counts requests to a second server, reached by another host name.
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
	}))
	defer other.Close()
	_, otherPort := hostPort(t, other.URL)

	release := make(chan struct{})
	defer close(release)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok\n") })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/healthz", http.StatusFound)
	})
	mux.HandleFunc("/redirect-down", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/down", http.StatusFound)
	})
	mux.HandleFunc("/redirect-away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://localhost:%d/", otherPort), http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("a", 1<<20))
	})
	mux.HandleFunc("/teapot", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	podIP, port := hostPort(t, srv.URL)
	refused := closedPort(t)

	tests := []struct {
		name    string
		path    string
		port    int
		timeout time.Duration
		want    Result
		msg     string // exact message, unless prefix is set
		prefix  bool
		contain string // a further part the message must hold
	}{
		{name: "200", path: "/healthz", want: Success, msg: "ok"},
		{name: "path without slash", path: "healthz", want: Success, msg: "ok"},
		{name: "302 on the same host is followed", path: "/redirect", want: Success, msg: "ok"},
		{name: "302 to a 503 on the same host", path: "/redirect-down", want: Failure,
			msg: "HTTP probe failed with statuscode: 503"},
		{name: "302 to another host is not followed", path: "/redirect-away", want: Success,
			msg: "probe ended on a redirect to another host (302 Found", prefix: true},
		{name: "redirect loop", path: "/loop", want: Failure,
			msg: `Get "/loop": stopped after 10 redirects`}, // Go names the last Location
		{name: "503", path: "/down", want: Failure, msg: "HTTP probe failed with statuscode: 503"},
		{name: "418", path: "/teapot", want: Failure, msg: "HTTP probe failed with statuscode: 418"},
		{name: "404", path: "/nothing", want: Failure, msg: "HTTP probe failed with statuscode: 404"},
		{name: "timeout", path: "/slow", timeout: 200 * time.Millisecond, want: Failure,
			msg: fmt.Sprintf(`Get "http://%s:%d/slow": `, podIP, port), prefix: true,
			contain: "Client.Timeout exceeded"},
		{name: "connection refused", path: "/healthz", port: refused, want: Failure,
			msg: fmt.Sprintf(`Get "http://%s:%d/healthz": dial tcp %s:%d: connect: connection refused`,
				podIP, refused, podIP, refused)},
		{name: "body capped at 10 KiB", path: "/big", want: Success, msg: strings.Repeat("a", 10<<10)},
	}
	hp := newHTTPProber()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, timeout := port, time.Second
			if tt.port != 0 {
				p = tt.port
			}
			if tt.timeout != 0 {
				timeout = tt.timeout
			}
			res, msg := hp.probe(context.Background(), &corev1.HTTPGetAction{Path: tt.path}, podIP, p, timeout)
			if res != tt.want {
				t.Errorf("result %v, want %v (message %q)", res, tt.want, msg)
			}
			switch {
			case tt.prefix && !strings.HasPrefix(msg, tt.msg):
				t.Errorf("message %q, want prefix %q", msg, tt.msg)
			case !tt.prefix && msg != tt.msg:
				t.Errorf("message %q, want %q", msg, tt.msg)
			}
			if !strings.Contains(msg, tt.contain) {
				t.Errorf("message %q does not contain %q", msg, tt.contain)
			}
		})
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the other host got %d requests, want none", n)
	}
}

func TestHTTPProbeRequest(t *testing.T) {
	type seen struct {
		host, path, query, ua, accept, custom string
		multi                                 []string
		close                                 bool
	}
	got := make(chan seen, 2)
	var newConns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{host: r.Host, path: r.URL.Path, query: r.URL.RawQuery, ua: r.UserAgent(),
			accept: r.Header.Get("Accept"), custom: r.Header.Get("X-Probe"), multi: r.Header.Values("X-Multi"), close: r.Close}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	podIP, port := hostPort(t, srv.URL)
	hp := newHTTPProber()

	a := &corev1.HTTPGetAction{
		Path: "/ready?full=1",
		HTTPHeaders: []corev1.HTTPHeader{
			{Name: "X-Probe", Value: "yes"},
			{Name: "host", Value: "app.example"},
			{Name: "X-Multi", Value: "1"},
			{Name: "X-Multi", Value: "2"},
		},
	}
	if res, msg := hp.probe(context.Background(), a, podIP, port, time.Second); res != Success {
		t.Fatalf("result %v (%q), want success", res, msg)
	}
	s := <-got
	want := seen{host: "app.example", path: "/ready", query: "full=1", ua: userAgent, accept: "*/*",
		custom: "yes", multi: []string{"1", "2"}, close: true}
	if fmt.Sprint(s) != fmt.Sprint(want) {
		t.Errorf("server saw %+v\nwant %+v", s, want)
	}

	// A probe's own User-Agent wins; each probe opens its own connection.
	a = &corev1.HTTPGetAction{Path: "/", HTTPHeaders: []corev1.HTTPHeader{{Name: "User-Agent", Value: "mine"}}}
	if res, msg := hp.probe(context.Background(), a, podIP, port, time.Second); res != Success {
		t.Fatalf("result %v (%q), want success", res, msg)
	}
	if s := <-got; s.ua != "mine" {
		t.Errorf("User-Agent %q, want mine", s.ua)
	}
	if n := newConns.Load(); n != 2 {
		t.Errorf("%d connections for 2 probes, want 2 (no keep-alive)", n)
	}
}

func TestHTTPProbeHTTPSSkipsVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "secure")
	}))
	defer srv.Close()
	podIP, port := hostPort(t, srv.URL)
	a := &corev1.HTTPGetAction{Path: "/", Scheme: corev1.URISchemeHTTPS}
	res, msg := newHTTPProber().probe(context.Background(), a, podIP, port, time.Second)
	if res != Success || msg != "secure" {
		t.Fatalf("got %v %q, want success \"secure\"", res, msg)
	}
}

func TestHTTPProbeBadRequest(t *testing.T) {
	tests := []struct {
		name  string
		a     corev1.HTTPGetAction
		podIP string
		msg   string
	}{
		{name: "no pod IP", a: corev1.HTTPGetAction{Path: "/"}, msg: "httpGet probe has no host: the pod has no IP yet"},
		{name: "bad scheme", a: corev1.HTTPGetAction{Path: "/", Scheme: "FTP"}, podIP: "127.0.0.1",
			msg: `httpGet probe: unsupported scheme "FTP"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, msg := newHTTPProber().probe(context.Background(), &tt.a, tt.podIP, 80, time.Second)
			if res != Unknown || msg != tt.msg {
				t.Fatalf("got %v %q, want unknown %q", res, msg, tt.msg)
			}
		})
	}
}
