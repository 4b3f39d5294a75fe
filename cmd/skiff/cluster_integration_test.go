package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// skiffBin is the binary the integration tests run, built once.
var skiffBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-bin-")
	if err != nil {
		panic(err)
	}
	skiffBin = filepath.Join(dir, "skiff")
	build := exec.Command("go", "build", "-o", skiffBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building skiff:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// master is one `skiff server` process of a test.
type master struct {
	t        *testing.T
	dir      string
	api      string
	raft     string
	cmd      *exec.Cmd
	log      *bytes.Buffer
	exited   chan struct{}
	logMutex *sync.Mutex
}

func newMaster(t *testing.T) *master {
	return &master{t: t, dir: t.TempDir(), api: freeAddr(t), raft: freeAddr(t), logMutex: &sync.Mutex{}}
}

type lockedBuffer struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (l lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (m *master) start(extra ...string) {
	m.t.Helper()
	args := append([]string{"server", "--data-dir", m.dir, "--api-addr", m.api, "--raft-addr", m.raft, "--no-agent"}, extra...)
	m.cmd = exec.Command(skiffBin, args...)
	m.log = &bytes.Buffer{}
	m.cmd.Stdout = lockedBuffer{m.logMutex, m.log}
	m.cmd.Stderr = lockedBuffer{m.logMutex, m.log}
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(m.cmd, m.exited)
	m.t.Cleanup(m.stop)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := insecureHTTP.Get("https://" + m.api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-m.exited:
			m.t.Fatalf("master %s exited:\n%s", m.api, m.logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
	m.t.Fatalf("master %s not ready after 20s:\n%s", m.api, m.logs())
}

func (m *master) logs() string {
	m.logMutex.Lock()
	defer m.logMutex.Unlock()
	return m.log.String()
}

func (m *master) kill() {
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
}

func (m *master) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	select {
	case <-m.exited:
		return
	default:
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		m.kill()
	}
}

// insecureHTTP reaches the public health endpoints before a test has the
// CA in hand.
var insecureHTTP = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

// client talks to this master only, as the admin.
func (m *master) client(t *testing.T) *client.Client {
	cfg, err := client.LoadConfig(filepath.Join(m.dir, "admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Servers = []string{"https://" + m.api}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cli runs the skiff CLI with the given config and returns stdout, stderr
// and whether it succeeded.
func cli(t *testing.T, config, stdin string, args ...string) (string, string, bool) {
	t.Helper()
	cmd := exec.Command(skiffBin, args...)
	cmd.Env = append(os.Environ(), "SKIFF_CONFIG="+config)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err == nil
}

func mustCLI(t *testing.T, config, stdin string, args ...string) string {
	t.Helper()
	out, errOut, ok := cli(t, config, stdin, args...)
	if !ok {
		t.Fatalf("skiff %s failed:\n%s%s", strings.Join(args, " "), out, errOut)
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not after %s: %v", what, timeout, err)
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Data: map[string]string{"v": name}}
}

// TestThreeMastersSurviveLeaderKill drives a 3-master cluster the way a user
// does and kills the leader under it.
func TestThreeMastersSurviveLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts three masters")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	masters := []*master{newMaster(t), newMaster(t), newMaster(t)}
	masters[0].start("--init")
	raw, err := os.ReadFile(filepath.Join(masters[0].dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	for _, want := range []string{"admin config: " + filepath.Join(masters[0].dir, "admin.conf"), "server join token: " + token} {
		if !strings.Contains(masters[0].logs(), want) {
			t.Fatalf("--init did not print %q:\n%s", want, masters[0].logs())
		}
	}
	for _, m := range masters[1:] {
		m.start("--join", masters[0].api, "--token", token)
	}
	admin := filepath.Join(masters[0].dir, "admin.conf")
	waitFor(t, "three healthy masters in admin.conf and cluster members", 20*time.Second, func() error {
		out, errOut, ok := cli(t, admin, "", "cluster", "members")
		if !ok || strings.Count(out, " yes") != 3 || strings.Count(out, "leader") != 1 {
			return fmt.Errorf("%s%s", out, errOut)
		}
		cfg, err := client.LoadConfig(admin)
		if err != nil || len(cfg.Servers) != 3 {
			return fmt.Errorf("admin.conf servers: %v %v", cfg, err)
		}
		return nil
	})
	for _, f := range []string{"token", "admin.conf"} {
		st, err := os.Stat(filepath.Join(masters[0].dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v mode %v, want 0600", f, err, st.Mode().Perm())
		}
	}

	// The CLI: apply a folder, then again (unchanged), then a change.
	examples := filepath.Join("..", "..", "examples")
	out := mustCLI(t, admin, "", "apply", "-f", examples)
	if !strings.Contains(out, "configmap/demo created") || !strings.Contains(out, "namespace/shop created") {
		t.Fatalf("apply output:\n%s", out)
	}
	out = mustCLI(t, admin, "", "apply", "-f", examples)
	if strings.Count(out, "unchanged") != strings.Count(out, "\n") {
		t.Fatalf("second apply changed something:\n%s", out)
	}
	changed, _ := os.ReadFile(filepath.Join(examples, "cm.yaml"))
	out = mustCLI(t, admin, strings.Replace(string(changed), "log-level: info", "log-level: debug", 1), "apply", "-f", "-")
	if out != "configmap/demo configured\n" {
		t.Fatalf("apply of a change: %q", out)
	}
	if out := mustCLI(t, admin, "", "get", "cm", "demo", "-o", "yaml"); !strings.Contains(out, "log-level: debug") {
		t.Fatalf("get -o yaml:\n%s", out)
	}
	if out := mustCLI(t, admin, "", "get", "configmaps", "-A", "-o", "name"); !strings.Contains(out, "configmap/shop-settings") {
		t.Fatalf("get -A -o name:\n%s", out)
	}
	if out := mustCLI(t, admin, "", "describe", "configmap", "demo"); !strings.Contains(out, "Name:                demo") || !strings.Contains(out, "greeting: hello from skiff") {
		t.Fatalf("describe configmap demo:\n%s", out)
	}
	if out := mustCLI(t, admin, "", "create", "namespace", "ops"); out != "namespace/ops created\n" {
		t.Fatalf("create namespace: %q", out)
	}
	if out := mustCLI(t, admin, "", "version"); !strings.Contains(out, "Server Version:") {
		t.Fatalf("version: %q", out)
	}
	// get -w lists, then prints each change matching the selector.
	watchOut := &lockedBuffer{mu: &sync.Mutex{}, buf: &bytes.Buffer{}}
	watcher := exec.Command(skiffBin, "get", "pods", "-l", "app=web", "-w")
	watcher.Env = append(os.Environ(), "SKIFF_CONFIG="+admin)
	watcher.Stdout = watchOut
	if err := watcher.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { watcher.Process.Kill(); watcher.Wait() }()
	time.Sleep(300 * time.Millisecond)
	for _, name := range []string{"web-1", "db-1"} {
		app := strings.Split(name, "-")[0]
		pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", labels: {app: " + app + "}}\nspec: {containers: [{name: c, image: busybox}]}\n"
		mustCLI(t, admin, pod, "apply", "-f", "-")
	}
	waitFor(t, "get -w printing the new pod", 5*time.Second, func() error {
		watchOut.mu.Lock()
		defer watchOut.mu.Unlock()
		if !strings.Contains(watchOut.buf.String(), "web-1") {
			return fmt.Errorf("output so far: %q", watchOut.buf.String())
		}
		if strings.Contains(watchOut.buf.String(), "db-1") {
			return fmt.Errorf("the selector let db-1 through: %q", watchOut.buf.String())
		}
		return nil
	})
	checkCascade(t, admin)
	checkServices(t, admin)
	// Bad input: an unknown field is refused, naming it, and nothing is stored.
	bad := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndata:\n  a: b\nimmutible: true\n"
	if _, errOut, ok := cli(t, admin, bad, "apply", "-f", "-"); ok || !strings.Contains(errOut, "immutible") {
		t.Fatalf("apply with a typo: ok=%v stderr=%q", ok, errOut)
	}
	if _, errOut, ok := cli(t, admin, "", "get", "cm", "typo"); ok || !strings.Contains(errOut, "NotFound") {
		t.Fatalf("get of a refused object: ok=%v stderr=%q", ok, errOut)
	}

	// Concurrent writes spread over all masters; every acknowledged one
	// must survive the leader's death.
	cm, _ := resources.Default().ByKind("ConfigMap")
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for i, m := range masters {
		c := m.client(t)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 30; j++ {
				name := fmt.Sprintf("pre-%d-%d", i, j)
				if _, err := c.Create(ctx, configMap(name)); err != nil {
					t.Errorf("create %s: %v", name, err)
					return
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	members, err := masters[0].client(t).Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var leader *master
	var followers []*master
	for _, mem := range members {
		for _, m := range masters {
			if m.api == mem.APIAddress {
				if mem.Leader {
					leader = m
				} else {
					followers = append(followers, m)
				}
			}
		}
	}
	if leader == nil || len(followers) != 2 {
		t.Fatalf("cannot tell the leader: %+v", members)
	}
	leader.kill()

	// Writes sent to a follower succeed once a new leader is elected.
	fc := followers[0].client(t)
	waitFor(t, "a write through a follower after the leader died", 15*time.Second, func() error {
		_, err := fc.Create(ctx, configMap("after-kill"))
		return err
	})
	list, err := followers[1].client(t).List(ctx, cm, client.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	// Usage metrics live in the leader's memory: both survivors serve
	// them, the follower by asking the new leader (no nodes: none).
	nm, _ := fc.Registry().ByKind("NodeMetrics")
	for _, m := range followers {
		if l, err := m.client(t).List(ctx, nm, client.ListOptions{}); err != nil || len(l.Items) != 0 {
			t.Errorf("nodemetrics through %s: %v items, err %v", m.api, l, err)
		}
	}
	have := map[string]bool{}
	for _, o := range list.Items {
		have[o.GetName()] = true
	}
	for _, name := range append(acked, "after-kill") {
		if !have[name] {
			t.Fatalf("acknowledged write %s lost after the leader died", name)
		}
	}
	// The CLI fails over: the dead master's admin.conf lists the others.
	out = mustCLI(t, filepath.Join(leader.dir, "admin.conf"), "", "get", "cm", "after-kill", "-o", "name")
	if out != "configmap/after-kill\n" {
		t.Fatalf("CLI through a config whose first master is dead: %q", out)
	}

	// The killed master restarts and catches up from the log.
	leader.start()
	rc := leader.client(t)
	waitFor(t, "the restarted master serving the write it missed", 20*time.Second, func() error {
		l, err := rc.List(ctx, cm, client.ListOptions{Namespace: "default", FieldSelector: "metadata.name=after-kill", ResourceVersion: "0"})
		if err != nil {
			return err
		}
		if len(l.Items) != 1 {
			return fmt.Errorf("not there yet")
		}
		return nil
	})

	// Snapshot, then a new one-master cluster restored from it.
	snap := filepath.Join(t.TempDir(), "backup.snap")
	if out := mustCLI(t, admin, "", "snapshot", "save", snap); !strings.Contains(out, "snapshot saved") {
		t.Fatalf("snapshot save: %q", out)
	}
	restored := newMaster(t)
	restored.start("--restore", snap)
	rconf := filepath.Join(restored.dir, "admin.conf")
	waitFor(t, "restored objects", 10*time.Second, func() error {
		out, errOut, ok := cli(t, rconf, "", "get", "cm", "after-kill", "-o", "name")
		if !ok {
			return fmt.Errorf("%s%s", out, errOut)
		}
		return nil
	})
	out = mustCLI(t, rconf, "", "cluster", "members")
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "leader") {
		t.Fatalf("restored cluster members:\n%s", out)
	}
	// Delete through the CLI.
	if out := mustCLI(t, admin, "", "delete", "-f", filepath.Join(examples, "cm.yaml")); out != "configmap/demo deleted\n" {
		t.Fatalf("delete -f: %q", out)
	}
	// Take the restarted master out of the cluster.
	members, err = followers[0].client(t).Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gone string
	for _, mem := range members {
		if mem.APIAddress == leader.api {
			gone = mem.ID
		}
	}
	if out := mustCLI(t, filepath.Join(followers[0].dir, "admin.conf"), "", "cluster", "remove-member", gone); out != "master "+gone+" removed\n" {
		t.Fatalf("remove-member: %q", out)
	}
	out = mustCLI(t, filepath.Join(followers[0].dir, "admin.conf"), "", "cluster", "members")
	if strings.Contains(out, gone) || strings.Count(strings.TrimSpace(out), "\n") != 2 {
		t.Fatalf("members after remove-member:\n%s", out)
	}
}

// TestRestartedMasterCatchesUpFromSnapshot keeps a master down while the
// others write past what their log keeps: on restart it must install the
// leader's snapshot.
func TestRestartedMasterCatchesUpFromSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts three masters")
	}
	ctx := context.Background()
	masters := []*master{newMaster(t), newMaster(t), newMaster(t)}
	masters[0].start("--init", "--snapshot-threshold", "32")
	token := strings.TrimSpace(readFile(t, filepath.Join(masters[0].dir, "token")))
	for _, m := range masters[1:] {
		m.start("--join", masters[0].api, "--token", token, "--snapshot-threshold", "32")
	}
	down := masters[2]
	down.kill()
	c := masters[0].client(t)
	snapshots := func(m *master) map[string]bool {
		// raft's file snapshot store keeps its own snapshots/ folder.
		entries, _ := os.ReadDir(filepath.Join(m.dir, "raft", "snapshots", "snapshots"))
		names := map[string]bool{}
		for _, e := range entries {
			names[e.Name()] = true
		}
		return names
	}
	// Two rounds of writes, each followed by a snapshot (every 32
	// entries, checked each second, keeping 32 behind): the entries the
	// stopped master misses are gone from every log.
	for round := 0; round < 2; round++ {
		seen := snapshots(masters[0])
		for i := 0; i < 100; i++ {
			if _, err := c.Create(ctx, configMap(fmt.Sprintf("snap-%d-%d", round, i))); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "a new snapshot on the first master", 10*time.Second, func() error {
			for name := range snapshots(masters[0]) {
				if !seen[name] {
					return nil
				}
			}
			return fmt.Errorf("none yet: %v", snapshots(masters[0]))
		})
	}
	before := snapshots(down)
	down.start()
	cm, _ := resources.Default().ByKind("ConfigMap")
	dc := down.client(t)
	waitFor(t, "the restarted master serving every object", 20*time.Second, func() error {
		l, err := dc.List(ctx, cm, client.ListOptions{Namespace: "default", ResourceVersion: "0"})
		if err != nil {
			return err
		}
		if len(l.Items) != 200 {
			return fmt.Errorf("%d of 200", len(l.Items))
		}
		return nil
	})
	installed := false
	for name := range snapshots(down) {
		if !before[name] {
			installed = true
		}
	}
	if !installed {
		t.Fatalf("the restarted master caught up without installing a snapshot (snapshots before %v, after %v)", before, snapshots(down))
	}
}

// checkCascade deletes ReplicaSets with each --cascade: orphan keeps the
// pods (released), foreground deletes them before the ReplicaSet. The
// pods stay unbound (no agents), so they go at once.
func checkCascade(t *testing.T, admin string) {
	t.Helper()
	rs := func(name string) string {
		return "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: " + name + "}\nspec:\n  replicas: 2\n" +
			"  selector: {matchLabels: {rs: " + name + "}}\n  template:\n    metadata: {labels: {rs: " + name + "}}\n" +
			"    spec: {containers: [{name: c, image: busybox}]}\n"
	}
	pods := func(name string) []string {
		out := mustCLI(t, admin, "", "get", "pods", "-l", "rs="+name, "-o", "name")
		return strings.Fields(out)
	}
	for _, name := range []string{"keep", "fore"} {
		mustCLI(t, admin, rs(name), "apply", "-f", "-")
		waitFor(t, "two pods of ReplicaSet "+name, 10*time.Second, func() error {
			if p := pods(name); len(p) != 2 {
				return fmt.Errorf("pods %v", p)
			}
			return nil
		})
	}
	if _, errOut, ok := cli(t, admin, "", "delete", "rs", "keep", "--cascade=sideways"); ok || !strings.Contains(errOut, "--cascade") {
		t.Fatalf("delete --cascade=sideways: ok=%v stderr=%q", ok, errOut)
	}
	mustCLI(t, admin, "", "delete", "rs", "keep", "--cascade=orphan")
	if _, _, ok := cli(t, admin, "", "get", "rs", "keep"); ok {
		t.Fatal("ReplicaSet keep still there after delete --cascade=orphan (--wait)")
	}
	for _, p := range pods("keep") {
		if out := mustCLI(t, admin, "", "get", p, "-o", "yaml"); strings.Contains(out, "ownerReferences") {
			t.Fatalf("%s still has an owner after --cascade=orphan:\n%s", p, out)
		}
	}
	if p := pods("keep"); len(p) != 2 {
		t.Fatalf("orphaned pods: %v, want both kept", p)
	}
	mustCLI(t, admin, "", "delete", "rs", "fore", "--cascade=foreground")
	if p := pods("fore"); len(p) != 0 {
		t.Fatalf("pods %v left after delete --cascade=foreground returned", p)
	}
	mustCLI(t, admin, "", "delete", "pods", "-l", "rs=keep")
}

// checkServices applies examples/web (a Deployment and its Service) and
// checks the addresses the API gave, the kubernetes Service and its
// Endpoints (one per master), and bad input.
func checkServices(t *testing.T, admin string) {
	t.Helper()
	web := filepath.Join("..", "..", "examples", "web")
	mustCLI(t, admin, "", "apply", "-f", web)
	if out := mustCLI(t, admin, "", "apply", "-f", web); strings.Count(out, "unchanged") != strings.Count(out, "\n") {
		t.Fatalf("second apply of examples/web changed something (an allocated address lost?):\n%s", out)
	}
	out := mustCLI(t, admin, "", "get", "svc", "-o", "wide")
	if !regexp.MustCompile(`(?m)^kubernetes\s+ClusterIP\s+10\.43\.0\.1\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^web\s+ClusterIP\s+10\.43\.\d+\.\d+\s`).MatchString(out) {
		t.Fatalf("get svc:\n%s", out)
	}
	waitFor(t, "the kubernetes endpoints listing the three masters", 15*time.Second, func() error {
		out := mustCLI(t, admin, "", "get", "endpoints", "kubernetes", "-o", "yaml")
		if strings.Count(out, "ip: 127.0.0.1") != 3 {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	waitFor(t, "endpoints for the web service", 10*time.Second, func() error {
		_, errOut, ok := cli(t, admin, "", "get", "endpoints", "web")
		if !ok {
			return fmt.Errorf("%s", errOut)
		}
		return nil
	})
	bad := "apiVersion: v1\nkind: Service\nmetadata: {name: elsewhere}\nspec: {clusterIP: 192.168.1.1, ports: [{port: 80}]}\n"
	if _, errOut, ok := cli(t, admin, bad, "apply", "-f", "-"); ok || !strings.Contains(errOut, "spec.clusterIP") || !strings.Contains(errOut, "10.43.0.0/16") {
		t.Fatalf("a cluster IP outside the service CIDR: ok=%v stderr=%q", ok, errOut)
	}
	mustCLI(t, admin, "", "delete", "-f", web)
	waitFor(t, "the web endpoints deleted with their service", 10*time.Second, func() error {
		if _, _, ok := cli(t, admin, "", "get", "endpoints", "web"); ok {
			return errors.New("still there")
		}
		return nil
	})
}
