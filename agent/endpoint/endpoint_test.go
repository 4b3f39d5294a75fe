package endpoint

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/metricsstore"
	"github.com/skiffhq/skiff/apis/pki"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

func newAgent(t *testing.T) (*Fake, *httptest.Server) {
	t.Helper()
	f := NewFake()
	f.AddPod("default", "web",
		FakeContainer{Name: "app", Log: []FakeLine{{Text: "one"}, {Text: "two"}, {Text: "three"}},
			PreviousLog: []FakeLine{{Text: "crashed"}}, Files: map[string]string{"/etc/motd": "hello\n"}},
		FakeContainer{Name: "stopped", Stopped: true})
	srv := httptest.NewServer(Handler(f, nil))
	t.Cleanup(srv.Close)
	return f, srv
}

type answer struct {
	code int
	body string
	st   struct{ Message, Reason string }
}

func get(t *testing.T, url string) answer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, body: string(body)}
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(body, &a.st); err != nil {
			t.Fatalf("error answer is not a Status: %q", body)
		}
	}
	return a
}

func TestLogs(t *testing.T) {
	_, srv := newAgent(t)
	logs := srv.URL + LogsPath("default", "web", "app")
	cases := []struct {
		name, query string
		code        int
		want        string // body, or a part of the error message
	}{
		{"all", "", 200, "one\ntwo\nthree\n"},
		{"tail", "?tail=2", 200, "two\nthree\n"},
		{"tail zero", "?tail=0", 200, ""},
		{"tail negative is all", "?tail=-1", 200, "one\ntwo\nthree\n"},
		{"limit bytes", "?limitBytes=6", 200, "one\ntw"},
		{"previous", "?previous=true", 200, "crashed\n"},
		{"bad tail", "?tail=x", 400, "tail"},
		{"bad follow", "?follow=maybe", 400, "follow"},
		{"bad limit", "?limitBytes=-3", 400, "limitBytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := get(t, logs+tc.query)
			if a.code != tc.code {
				t.Fatalf("code %d, want %d: %s", a.code, tc.code, a.body)
			}
			if tc.code == 200 && a.body != tc.want {
				t.Fatalf("body %q, want %q", a.body, tc.want)
			}
			if tc.code != 200 && !strings.Contains(a.st.Message, tc.want) {
				t.Fatalf("message %q does not name %q", a.st.Message, tc.want)
			}
		})
	}
	a := get(t, logs+"?timestamps=1&tail=1")
	stamp, text, _ := strings.Cut(strings.TrimSuffix(a.body, "\n"), " ")
	if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil || text != "three" {
		t.Fatalf("timestamped line %q: %v", a.body, err)
	}
}

func TestErrorsNameThePodAndContainer(t *testing.T) {
	_, srv := newAgent(t)
	cases := []struct {
		name, method, path string
		code               int
		reason             string
		mention            []string
	}{
		{"logs of a missing pod", "GET", LogsPath("default", "nope", "app"), 404, "NotFound", []string{"default/nope"}},
		{"logs of a missing container", "GET", LogsPath("default", "web", "db"), 404, "NotFound", []string{`"db"`, "default/web"}},
		{"previous of a container that never restarted", "GET", LogsPath("default", "web", "stopped") + "?previous=1", 404, "NotFound", []string{`"stopped"`, "previous"}},
		{"exec into a stopped container", "POST", ExecPath("default", "web", "stopped") + "?command=ls", 409, "Conflict", []string{`pod default/web: container "stopped": not running`}},
		{"exec into a missing pod", "POST", ExecPath("default", "nope", "app") + "?command=ls", 404, "NotFound", []string{"default/nope"}},
		{"exec without a command", "POST", ExecPath("default", "web", "app"), 400, "BadRequest", []string{"command"}},
		{"unknown path", "GET", "/nothing", 404, "NotFound", []string{"/nothing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var st struct {
				Kind, Message, Reason string
				Code                  int
			}
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.code || st.Code != tc.code || st.Reason != tc.reason || st.Kind != "Status" {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, st, tc.code, tc.reason)
			}
			for _, m := range tc.mention {
				if !strings.Contains(st.Message, m) {
					t.Fatalf("message %q does not mention %s", st.Message, m)
				}
			}
		})
	}
}

func TestLogsFollow(t *testing.T) {
	f := NewFake()
	f.AddPod("default", "web", FakeContainer{Name: "app", Log: []FakeLine{{Text: "one"}, {Text: "two"}}})
	done := make(chan struct{}, 1)
	h := Handler(f, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		done <- struct{}{}
	}))
	defer srv.Close()

	// Follow until the caller goes away.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+LogsPath("default", "web", "app")+"?follow=true&tail=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(resp.Body)
	expectLine := func(want string) {
		t.Helper()
		got, err := lines.ReadString('\n')
		if err != nil || got != want+"\n" {
			t.Fatalf("line %q (%v), want %q", got, err, want)
		}
	}
	expectLine("two")
	f.AppendLog("default", "web", "app", "three")
	expectLine("three") // flushed at once, not at the end
	f.AppendLog("default", "web", "app", "four")
	expectLine("four")
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still follows after the caller went away")
	}
	resp.Body.Close()

	// Follow until the log ends for good: the stream ends cleanly.
	resp, err = http.Get(srv.URL + LogsPath("default", "web", "app") + "?follow=1&tail=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go func() {
		time.Sleep(50 * time.Millisecond)
		f.AppendLog("default", "web", "app", "last")
		f.EndLog("default", "web", "app")
	}()
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "last\n" {
		t.Fatalf("follow to the end: %q, %v", body, err)
	}
}

func execURL(srv *httptest.Server, container string, stdin bool, cmd ...string) string {
	q := url.Values{"command": cmd}
	if stdin {
		q.Set("stdin", "1")
	}
	return srv.URL + ExecPath("default", "web", container) + "?" + q.Encode()
}

func TestExecFrames(t *testing.T) {
	_, srv := newAgent(t)
	cases := []struct {
		name           string
		cmd            []string
		stdin          string
		stdout, stderr string
		code           int
	}{
		{"echo", []string{"echo", "hello", "world"}, "", "hello world\n", "", 0},
		{"exit code and stderr", []string{"sh", "-c", "echo out; echo oops >&2; exit 3"}, "", "out\n", "oops\n", 3},
		{"cat a file", []string{"cat", "/etc/motd"}, "", "hello\n", "", 0},
		{"cat a missing file", []string{"cat", "/nope"}, "", "", "cat: /nope: No such file or directory\n", 1},
		{"stdin", []string{"cat"}, "from stdin\n", "from stdin\n", "", 0},
		{"unknown command", []string{"vim"}, "", "", "vim: command not found\n", 127},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(execURL(srv, "app", tc.stdin != "", tc.cmd...), "", strings.NewReader(tc.stdin))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ExecContentType {
				t.Fatalf("answer %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			var stdout, stderr bytes.Buffer
			code, err := Demux(resp.Body, &stdout, &stderr)
			if err != nil || code != tc.code || stdout.String() != tc.stdout || stderr.String() != tc.stderr {
				t.Fatalf("exit %d (%v), stdout %q, stderr %q; want %d, %q, %q", code, err, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

// Output comes back while stdin is still open: the endpoint reads the
// request and writes the answer at the same time, even over HTTP/1.
func TestExecIsInteractive(t *testing.T) {
	_, srv := newAgent(t)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", execURL(srv, "app", true, "cat"), pr)
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		got <- result{resp, err}
	}()
	if _, err := io.WriteString(pw, "ping\n"); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no answer while stdin is open")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	defer res.resp.Body.Close()
	fr := NewFrameReader(res.resp.Body)
	ch, payload, err := fr.Next()
	if err != nil || ch != ChannelStdout || string(payload) != "ping\n" {
		t.Fatalf("first frame %d %q %v", ch, payload, err)
	}
	pw.Close()
	ch, payload, err = fr.Next()
	if err != nil || ch != ChannelExit || string(payload) != "0" {
		t.Fatalf("last frame %d %q %v", ch, payload, err)
	}
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	flushes := 0
	fw := NewFrameWriter(&buf, func() error { flushes++; return nil })
	big := bytes.Repeat([]byte("x"), writeChunk*2+10)
	if _, err := fw.Stream(ChannelStdout).Write(big); err != nil {
		t.Fatal(err)
	}
	fw.Stream(ChannelStderr).Write([]byte("err"))
	fw.WriteExit(42)
	if flushes != 5 {
		t.Fatalf("%d flushes for 5 frames", flushes)
	}
	var stdout, stderr bytes.Buffer
	code, err := Demux(bytes.NewReader(buf.Bytes()), &stdout, &stderr)
	if err != nil || code != 42 || !bytes.Equal(stdout.Bytes(), big) || stderr.String() != "err" {
		t.Fatalf("demux: %d %v, %d bytes out, %q err", code, err, stdout.Len(), stderr.String())
	}
	// Cut anywhere before the exit frame: no exit code.
	for _, cut := range []int{0, 3, buf.Len() - 1} {
		if _, err := Demux(bytes.NewReader(buf.Bytes()[:cut]), nil, nil); !errors.Is(err, ErrNoExitCode) {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
	// An error frame ends the stream with the agent's message.
	buf.Reset()
	fw = NewFrameWriter(&buf, nil)
	fw.WriteError(errors.New("runtime gone"))
	var ee *ExecError
	if _, err := Demux(&buf, nil, nil); !errors.As(err, &ee) || ee.Message != "runtime gone" {
		t.Fatalf("error frame: %v", err)
	}
	// Oversized frames are refused on both ends.
	if err := fw.WriteFrame(ChannelStdout, make([]byte, MaxFramePayload+1)); err == nil {
		t.Fatal("oversized frame written")
	}
	if _, _, err := NewFrameReader(bytes.NewReader([]byte{1, 0xff, 0xff, 0xff, 0xff})).Next(); err == nil {
		t.Fatal("oversized frame read")
	}
}

func dockerArchive(t *testing.T, tags ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	manifest, _ := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": tags, "Layers": []string{}}})
	for name, body := range map[string][]byte{"config.json": []byte("{}"), "manifest.json": manifest} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))})
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportAndListImages(t *testing.T) {
	_, srv := newAgent(t)
	archive := dockerArchive(t, "skiff.local/echo:1", "skiff.local/echo:latest")
	resp, err := http.Post(srv.URL+ImagesPath, "application/x-tar", bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	var imported []Image
	json.NewDecoder(resp.Body).Decode(&imported)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(imported) != 2 || imported[0].Ref != "skiff.local/echo:1" ||
		!strings.HasPrefix(imported[0].Digest, "sha256:") || imported[0].Size != int64(len(archive)) {
		t.Fatalf("import: %d %+v", resp.StatusCode, imported)
	}
	a := get(t, srv.URL+ImagesPath)
	var listed []Image
	json.Unmarshal([]byte(a.body), &listed)
	if len(listed) != 2 || listed[1].Ref != "skiff.local/echo:latest" {
		t.Fatalf("list: %s", a.body)
	}
	resp, err = http.Post(srv.URL+ImagesPath, "application/x-tar", strings.NewReader("not a tar"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("importing garbage: %d", resp.StatusCode)
	}
}

func TestRequireServerCert(t *testing.T) {
	ca, err := pki.NewCA("cluster", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair := func(name, role string) *pki.KeyPair {
		certPEM, keyPEM, err := ca.Issue(pki.IssueOptions{Identity: pki.Identity{Name: name, Role: role}, Hosts: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		kp, err := pki.NewKeyPair(certPEM, keyPEM, ca.Bundle)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	f := NewFake()
	srv := httptest.NewUnstartedServer(Handler(f, RequireServerCert))
	srv.TLS = pair("node:n1", pki.RoleNode).ServerTLS(false)
	srv.StartTLS()
	defer srv.Close()
	call := func(kp *pki.KeyPair) (int, string) {
		tc := &tls.Config{InsecureSkipVerify: true}
		if kp != nil {
			tc = kp.ClientTLS()
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		resp, err := c.Get(srv.URL + ImagesPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := call(pair("server:m1", pki.RoleServer)); code != 200 {
		t.Fatalf("master: %d %s", code, body)
	}
	if code, body := call(pair("user:alice", pki.RoleUser)); code != 403 || !strings.Contains(body, "user:alice") {
		t.Fatalf("user: %d %s", code, body)
	}
	if code, body := call(pair("node:n2", pki.RoleNode)); code != 403 {
		t.Fatalf("node: %d %s", code, body)
	}
	if code, body := call(nil); code != 401 {
		t.Fatalf("no certificate: %d %s", code, body)
	}
}

func TestErrorMessagesNameEachThingOnce(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{ErrPodNotFound, "pod default/web: not on this node"},
		{fmt.Errorf("pod default/web: %w", ErrPodNotFound), "pod default/web: not on this node"},
		{ErrContainerNotFound, `pod default/web: container "app": not found`},
		{fmt.Errorf("container %q has no previous instance: %w", "app", ErrContainerNotFound), `pod default/web: container "app" has no previous instance: not found`},
		{fmt.Errorf("container %q: %w", "app", ErrNotRunning), `pod default/web: container "app": not running`},
		{errors.New("containerd is down"), `pod default/web: container "app": containerd is down`},
	}
	for _, tc := range cases {
		if _, _, got := backendStatus(tc.err, "default", "web", "app"); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestUsage(t *testing.T) {
	f, srv := newAgent(t)
	if a := get(t, srv.URL+UsagePath); a.code != http.StatusServiceUnavailable {
		t.Fatalf("before the first measurement: %d %s", a.code, a.body)
	}
	f.mu.Lock()
	f.Report = &metricsstore.Report{
		Node: &metricsv1beta1.NodeMetrics{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		Pods: []*metricsv1beta1.PodMetrics{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}}},
	}
	f.mu.Unlock()
	a := get(t, srv.URL+UsagePath)
	var rep metricsstore.Report
	if err := json.Unmarshal([]byte(a.body), &rep); a.code != 200 || err != nil || rep.Node.Name != "n1" || len(rep.Pods) != 1 || rep.Pods[0].Name != "web" {
		t.Fatalf("usage: %d %s (%v)", a.code, a.body, err)
	}
}
