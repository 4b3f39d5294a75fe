package server_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/agent/endpoint"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/auth"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// agentFixture is an API server whose store holds nodes: n1 runs a fake
// agent, n2's agent is unreachable, n3 is not Ready.
type agentFixture struct {
	t       *testing.T
	api     *httptest.Server
	agent   *endpoint.Fake
	deadAt  string // n2's agent address
	mu      sync.Mutex
	audited []server.AuditEntry
}

// roleHeader carries the caller's role in these tests (authentication is
// the test's own).
const roleHeader = "X-Test-Role"

func newAgentFixture(t *testing.T) *agentFixture {
	t.Helper()
	reg := resources.Default()
	store := raftfsm.NewMemStore(raftfsm.FSMConfig{Registry: reg, History: 8})
	f := &agentFixture{t: t, agent: endpoint.NewFake()}
	f.agent.AddPod("default", "web", endpoint.FakeContainer{Name: "app",
		Log: []endpoint.FakeLine{{Text: "one"}, {Text: "two"}, {Text: "three"}}})
	f.agent.AddPod("default", "multi", endpoint.FakeContainer{Name: "a", Log: []endpoint.FakeLine{{Text: "from a"}}},
		endpoint.FakeContainer{Name: "b", Log: []endpoint.FakeLine{{Text: "from b"}}})
	agentSrv := httptest.NewServer(endpoint.Handler(f.agent, nil))
	t.Cleanup(agentSrv.Close)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.deadAt = dead.Addr().String()
	dead.Close()

	f.api = httptest.NewServer(server.New(server.Config{
		Store: store, Registry: reg, AgentScheme: "http",
		Authenticate: func(r *http.Request) (auth.User, error) {
			role := r.Header.Get(roleHeader)
			if role == "" {
				role = auth.RoleAdmin
			}
			return auth.User{Name: "user:" + role, Role: role}, nil
		},
		Authorizer: &auth.Authorizer{},
		Audit: func(e server.AuditEntry) {
			f.mu.Lock()
			f.audited = append(f.audited, e)
			f.mu.Unlock()
		},
	}))
	t.Cleanup(f.api.Close)

	ctx := context.Background()
	put := func(obj apis.Object) {
		t.Helper()
		res, err := reg.ByGVK("v1", fixtureKind(obj))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Create(ctx, res, obj); err != nil {
			t.Fatal(err)
		}
	}
	put(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
	put(nodeWithAgent("n1", agentSrv.Listener.Addr().String(), corev1.ConditionTrue))
	put(nodeWithAgent("n2", f.deadAt, corev1.ConditionTrue))
	put(nodeWithAgent("n3", f.deadAt, corev1.ConditionFalse))
	put(podOn("web", "n1", "app"))
	put(podOn("multi", "n1", "a", "b"))
	put(podOn("pending", "", "app"))
	put(podOn("lost", "n2", "app"))
	put(podOn("ghost", "gone", "app"))
	put(podOn("unknown-to-agent", "n1", "app"))
	return f
}

func fixtureKind(obj apis.Object) string {
	switch obj.(type) {
	case *corev1.Namespace:
		return "Namespace"
	case *corev1.Node:
		return "Node"
	case *corev1.Pod:
		return "Pod"
	}
	panic("unexpected type")
}

func nodeWithAgent(name, agentAddr string, ready corev1.ConditionStatus) *corev1.Node {
	host, port, _ := net.SplitHostPort(agentAddr)
	p, _ := strconv.Atoi(port)
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: host}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(p)}},
		Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}},
	}}
}

func podOn(name, nodeName string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{NodeName: nodeName}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "busybox"})
	}
	return p
}

type roleTransport string

func (rt roleTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(roleHeader, string(rt))
	return http.DefaultTransport.RoundTrip(r)
}

func (f *agentFixture) client(role string) *client.Client {
	f.t.Helper()
	c, err := client.New(&client.Config{Servers: []string{f.api.URL}}, client.Options{Transport: roleTransport(role)})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func readLogs(t *testing.T, c *client.Client, pod string, opts client.LogOptions) string {
	t.Helper()
	rc, err := c.Logs(context.Background(), "default", pod, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPodLogsThroughTheAPI(t *testing.T) {
	f := newAgentFixture(t)
	c := f.client(auth.RoleView)
	two := int64(2)
	if got := readLogs(t, c, "web", client.LogOptions{}); got != "one\ntwo\nthree\n" {
		t.Fatalf("logs = %q", got)
	}
	if got := readLogs(t, c, "web", client.LogOptions{TailLines: &two}); got != "two\nthree\n" {
		t.Fatalf("tail 2 = %q", got)
	}
	if got := readLogs(t, c, "multi", client.LogOptions{Container: "b"}); got != "from b\n" {
		t.Fatalf("container b = %q", got)
	}
	if got := readLogs(t, c, "web", client.LogOptions{LimitBytes: 5}); got != "one\nt" {
		t.Fatalf("limitBytes 5 = %q", got)
	}

	// Follow: lines arrive as the agent gets them, through the proxy.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	zero := int64(0)
	rc, err := c.Logs(ctx, "default", "web", client.LogOptions{Follow: true, TailLines: &zero})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	lines := bufio.NewReader(rc)
	for _, text := range []string{"four", "five"} {
		f.agent.AppendLog("default", "web", "app", text)
		got, err := lines.ReadString('\n')
		if err != nil || got != text+"\n" {
			t.Fatalf("followed line %q (%v), want %q", got, err, text)
		}
	}
	cancel()
}

func TestPodExecThroughTheAPI(t *testing.T) {
	f := newAgentFixture(t)
	c := f.client(auth.RoleEdit)
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	code, err := c.Exec(ctx, "default", "web", "", []string{"sh", "-c", "echo out; echo err >&2; exit 7"}, nil, &stdout, &stderr)
	if err != nil || code != 7 || stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Fatalf("exec: %d %v, stdout %q, stderr %q", code, err, stdout.String(), stderr.String())
	}
	// stdin flows while output comes back, through both hops.
	pr, pw := io.Pipe()
	out := &lineWaiter{lines: make(chan string, 4)}
	done := make(chan error, 1)
	go func() {
		code, err := c.Exec(ctx, "default", "multi", "a", []string{"cat"}, pr, out, nil)
		if err == nil && code != 0 {
			err = io.ErrUnexpectedEOF
		}
		done <- err
	}()
	for _, text := range []string{"ping\n", "pong\n"} {
		io.WriteString(pw, text)
		select {
		case got := <-out.lines:
			if got != text {
				t.Fatalf("echoed %q, want %q", got, text)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no echo of %q while stdin is open", text)
		}
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Both execs are audited (once their handlers return, which may be
	// just after the client has read the exit code).
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		var execs int
		for _, e := range f.audited {
			if strings.HasSuffix(e.Path, "/exec") && e.Code == 200 && e.User == "user:edit" {
				execs++
			}
		}
		audited := append([]server.AuditEntry(nil), f.audited...)
		f.mu.Unlock()
		if execs == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audited execs: %+v", audited)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type lineWaiter struct{ lines chan string }

func (l *lineWaiter) Write(p []byte) (int, error) {
	l.lines <- string(p)
	return len(p), nil
}

func TestPodSubresourceErrors(t *testing.T) {
	f := newAgentFixture(t)
	c := f.client(auth.RoleAdmin)
	ctx := context.Background()
	logs := func(pod, container string) error {
		rc, err := c.Logs(ctx, "default", pod, client.LogOptions{Container: container})
		if err == nil {
			rc.Close()
		}
		return err
	}
	exec := func(pod string, cmd ...string) error {
		_, err := c.Exec(ctx, "default", pod, "", cmd, nil, nil, nil)
		return err
	}
	cases := []struct {
		name string
		err  error
		code int32
		msg  string
	}{
		{"missing pod", logs("nope", ""), 404, `pods "nope" not found`},
		{"no container named", logs("multi", ""), 400, "a container name must be specified for pod multi, choose one of: [a b]"},
		{"wrong container", logs("web", "db"), 400, "container db is not valid for pod web"},
		{"not scheduled", logs("pending", ""), 400, "pod pending is not bound to a node yet"},
		{"node gone", logs("ghost", ""), 404, "bound to node gone, which does not exist"},
		{"agent unreachable", logs("lost", ""), 502, "cannot reach the agent of node n2 at " + f.deadAt},
		{"the agent's own error", logs("unknown-to-agent", ""), 404, "pod default/unknown-to-agent: not on this node"},
		{"exec into a missing pod", exec("nope", "ls"), 404, `pods "nope" not found`},
		{"exec unreachable", exec("lost", "ls"), 502, "cannot reach the agent of node n2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			se, ok := tc.err.(*apierrors.StatusError)
			if !ok {
				t.Fatalf("error %v (%T), want a StatusError", tc.err, tc.err)
			}
			if se.ErrStatus.Code != tc.code || !strings.Contains(se.ErrStatus.Message, tc.msg) {
				t.Fatalf("got %d %q, want %d %q", se.ErrStatus.Code, se.ErrStatus.Message, tc.code, tc.msg)
			}
		})
	}
	// Bad parameters are refused before anything is looked up.
	for _, q := range []string{"/log?tailLines=-1", "/log?follow=perhaps", "/log?limitBytes=0"} {
		resp, err := http.Get(f.api.URL + "/api/v1/namespaces/default/pods/web" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("%s: %d", q, resp.StatusCode)
		}
	}
	resp, err := http.Post(f.api.URL+"/api/v1/namespaces/default/pods/web/exec", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var st metav1.Status
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(st.Message, "command") {
		t.Fatalf("exec without a command: %d %q", resp.StatusCode, st.Message)
	}
}

func TestPodSubresourceAuthorization(t *testing.T) {
	f := newAgentFixture(t)
	ctx := context.Background()
	view := f.client(auth.RoleView)
	if got := readLogs(t, view, "web", client.LogOptions{}); got == "" {
		t.Fatal("view read no logs")
	}
	_, err := view.Exec(ctx, "default", "web", "", []string{"echo", "hi"}, nil, nil, nil)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "run commands") {
		t.Fatalf("view exec: %v, want Forbidden saying why", err)
	}
	var out bytes.Buffer
	if code, err := f.client(auth.RoleEdit).Exec(ctx, "default", "web", "app", []string{"echo", "hi"}, nil, &out, nil); err != nil || code != 0 || out.String() != "hi\n" {
		t.Fatalf("edit exec: %d %v %q", code, err, out.String())
	}
}

func imageArchive(t *testing.T, tags ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	manifest, _ := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": tags, "Layers": []string{}}})
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))})
	tw.Write(manifest)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImagesThroughTheAPI(t *testing.T) {
	f := newAgentFixture(t)
	ctx := context.Background()
	edit := f.client(auth.RoleEdit)
	archive := imageArchive(t, "skiff.local/echo:1")

	// Every Ready node: n1 imports, n2 cannot be reached, n3 is skipped.
	res, err := edit.ImportImage(ctx, "", bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Node != "n1" || res[0].Error != "" || len(res[0].Images) != 1 || res[0].Images[0].Ref != "skiff.local/echo:1" ||
		res[0].Images[0].Size != int64(len(archive)) || res[1].Node != "n2" || !strings.Contains(res[1].Error, "cannot reach the agent of node n2") {
		t.Fatalf("import everywhere: %+v", res)
	}
	// One node, streamed (the reader's size unknown).
	res, err = edit.ImportImage(ctx, "n1", io.MultiReader(bytes.NewReader(imageArchive(t, "skiff.local/other:2"))))
	if err != nil || len(res) != 1 || len(res[0].Images) != 1 || res[0].Images[0].Ref != "skiff.local/other:2" {
		t.Fatalf("import into n1: %+v %v", res, err)
	}
	// An agent's refusal is that node's error; the call succeeds.
	res, err = edit.ImportImage(ctx, "n1", strings.NewReader("not a tar"))
	if err != nil || len(res) != 1 || !strings.Contains(res[0].Error, "not a tar") {
		t.Fatalf("import garbage: %+v %v", res, err)
	}
	// No node answered at all: the call fails.
	if _, err := edit.ImportImage(ctx, "n2", bytes.NewReader(archive)); !strings.Contains(err.Error(), "cannot reach the agent of node n2") {
		t.Fatalf("import into an unreachable node: %v", err)
	}
	if _, err := edit.ImportImage(ctx, "n9", bytes.NewReader(archive)); !apierrors.IsNotFound(err) {
		t.Fatalf("import into a missing node: %v", err)
	}

	view := f.client(auth.RoleView)
	if _, err := view.ImportImage(ctx, "", bytes.NewReader(archive)); !apierrors.IsForbidden(err) {
		t.Fatalf("view import: %v", err)
	}
	list, err := view.ListImages(ctx, "")
	if err != nil || len(list) != 2 || len(list[0].Images) != 2 || list[1].Error == "" {
		t.Fatalf("list: %+v %v", list, err)
	}
	list, err = view.ListImages(ctx, "n1")
	if err != nil || len(list) != 1 || list[0].Node != "n1" {
		t.Fatalf("list n1: %+v %v", list, err)
	}
	if _, err := f.client(auth.RoleNode).ListImages(ctx, ""); !apierrors.IsForbidden(err) {
		t.Fatalf("node lists images: %v", err)
	}
}
