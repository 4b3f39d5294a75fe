package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/agent/endpoint"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runSkiff runs the CLI in-process.
func runSkiff(args ...string) (stdout, stderr string, err error) {
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestParsePodArg(t *testing.T) {
	for arg, want := range map[string]string{"web": "web", "pod/web": "web", "pods/web": "web", "po/web": "web", "Pod/web": "web"} {
		if got, err := parsePodArg(arg); err != nil || got != want {
			t.Errorf("%q: %q %v", arg, got, err)
		}
	}
	for _, arg := range []string{"", "deploy/web", "pod/", "pod/a/b"} {
		if _, err := parsePodArg(arg); err == nil {
			t.Errorf("%q accepted", arg)
		}
	}
}

// Bad arguments are refused before any server is asked; good ones get as
// far as the (missing) client config.
func TestPodVerbArguments(t *testing.T) {
	noConfig := filepath.Join(t.TempDir(), "none")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"exec"}, "exec needs a pod and a command"},
		{[]string{"exec", "web"}, "exec needs a command after --"},
		{[]string{"exec", "web", "--"}, "exec needs a command after --"},
		{[]string{"exec", "web", "ls", "-l"}, "go after --"},
		{[]string{"exec", "web", "ls"}, "put the command after --: skiff exec web -- ls"},
		{[]string{"exec", "--", "ls"}, "exec needs a pod before --"},
		{[]string{"exec", "a", "b", "--", "ls"}, "exec takes one pod before --, got 2"},
		{[]string{"exec", "deploy/web", "--", "ls"}, `"deploy/web" is not a pod`},
		{[]string{"exec", "web", "-c", "app", "-i", "--", "ls", "-l"}, "no client config"},
		{[]string{"logs"}, "logs takes one pod, got 0"},
		{[]string{"logs", "a", "b"}, "logs takes one pod, got 2"},
		{[]string{"logs", "web", "--tail", "-5"}, "--tail -5"},
		{[]string{"logs", "web", "--since", "-1s"}, "--since"},
		{[]string{"logs", "web", "--limit-bytes", "-1"}, "--limit-bytes"},
		{[]string{"logs", "pod/web", "-f", "--tail", "10", "-c", "app"}, "no client config"},
		{[]string{"image", "import"}, "image import takes one FILE"},
		{[]string{"image", "ls", "n1"}, "image ls takes no arguments"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, _, err := runSkiff(append([]string{"--config", noConfig}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestImageOutput(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 5_100_000: "5.1 MB", 999_960: "1.0 MB", 3 << 30: "3.2 GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	digest := "sha256:abcdef0123456789abcdef"
	if got := shortDigest(digest); got != "sha256:abcdef012345…" {
		t.Errorf("shortDigest = %q", got)
	}
	var out bytes.Buffer
	failed := printImportResults(&out, []skiffv1.NodeImages{
		{Node: "n1", Images: []skiffv1.Image{{Ref: "skiff.local/echo:1", Digest: digest, Size: 5_100_000}}},
		{Node: "node-two", Error: "cannot reach the agent"},
	})
	want := "n1        imported skiff.local/echo:1 (sha256:abcdef012345…, 5.1 MB)\nnode-two  error: cannot reach the agent\n"
	if !failed || out.String() != want {
		t.Fatalf("import output (failed %v):\n%s\nwant:\n%s", failed, out.String(), want)
	}
}

// The verbs end to end against an in-process API whose node n1 runs a
// fake agent.
func TestPodVerbsAgainstAFakeAgent(t *testing.T) {
	fake := endpoint.NewFake()
	fake.AddPod("default", "web", endpoint.FakeContainer{Name: "app", Log: []endpoint.FakeLine{{Text: "one"}, {Text: "two"}}})
	agentSrv := httptest.NewServer(endpoint.Handler(fake, nil))
	defer agentSrv.Close()
	reg := resources.Default()
	store := raftfsm.NewMemStore(raftfsm.FSMConfig{Registry: reg, History: 8})
	api := httptest.NewServer(server.New(server.Config{Store: store, Registry: reg, AgentScheme: "http"}))
	defer api.Close()
	host, port, _ := net.SplitHostPort(agentSrv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	for _, o := range []struct {
		kind string
		obj  apis.Object
	}{
		{"Namespace", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}},
		{"Node", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(p)}},
			Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		}}},
		{"Pod", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}},
	} {
		res, _ := reg.ByKind(o.kind)
		if _, err := store.Create(context.Background(), res, o.obj); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	os.WriteFile(config, []byte("servers: ["+api.URL+"]\n"), 0o600)

	out, _, err := runSkiff("logs", "pod/web", "--tail", "1", "--config", config)
	if err != nil || out != "two\n" {
		t.Fatalf("logs: %q %v", out, err)
	}
	out, errOut, err := runSkiff("exec", "web", "--config", config, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3")
	var exit exitCodeError
	if !errors.As(err, &exit) || exit.code != 3 || out != "hi\n" || errOut != "oops\n" {
		t.Fatalf("exec: %v, stdout %q, stderr %q", err, out, errOut)
	}
	if out, _, err := runSkiff("exec", "web", "--config", config, "--", "echo", "fine"); err != nil || out != "fine\n" {
		t.Fatalf("exec: %q %v", out, err)
	}

	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	manifest, _ := json.Marshal([]map[string]any{{"RepoTags": []string{"skiff.local/echo:1"}}})
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))})
	tw.Write(manifest)
	tw.Close()
	file := filepath.Join(dir, "echo.tar")
	os.WriteFile(file, archive.Bytes(), 0o600)
	out, errOut, err = runSkiff("image", "import", file, "--config", config)
	if err != nil || !strings.HasPrefix(out, "n1  imported skiff.local/echo:1 (sha256:") || !strings.HasPrefix(errOut, "sent ") {
		t.Fatalf("image import: %v\nstdout %q\nstderr %q", err, out, errOut)
	}
	out, _, err = runSkiff("image", "ls", "--config", config)
	if err != nil || !strings.HasPrefix(out, "NODE   REFERENCE            DIGEST") || !strings.Contains(out, "n1     skiff.local/echo:1") {
		t.Fatalf("image ls: %v\n%s", err, out)
	}
}
