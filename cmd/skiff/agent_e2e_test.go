package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// requireAgentPrereqs checks what end-to-end agent tests need. Without CI
// a missing piece skips the test with the reason; under CI=true it fails.
func requireAgentPrereqs(t *testing.T) string {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, bin := range []string{"containerd", "runc", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin+" (apt-get install containerd runc)")
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		missing = append(missing, "CNI plugins (apt-get install containernetworking-plugins)")
	}
	image, _ := filepath.Abs("../../examples/images/echo.tar")
	if _, err := os.Stat(image); err != nil {
		missing = append(missing, "examples/images/echo.tar (make images)")
	}
	if len(missing) > 0 {
		msg := "end-to-end agent test needs: " + strings.Join(missing, ", ")
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return image
}

// agentProc is one `skiff agent` process of a test.
type agentProc struct {
	t      *testing.T
	dir    string
	addr   string
	node   string
	bridge string
	dns    string // --cluster-dns
	args   []string
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan struct{}
}

// dnsAddrs numbers the agents' cluster DNS addresses.
var dnsAddrs atomic.Int32

// proxyTable is the nftables table of the agent's service proxy.
func (a *agentProc) proxyTable() string { return "skt-proxy-" + a.node }

func (a *agentProc) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.Write(p)
}

func (a *agentProc) logs() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

func (a *agentProc) start() {
	a.t.Helper()
	fake := slices.Contains(a.args, "fake") // --runtime fake: no proxy, no DNS, nothing on the host
	if a.dns == "" && !fake {
		// Agents sharing the host each need their own DNS address; the
		// upstream is a loopback port where nothing listens, so that no
		// query of a test ever reaches the host's resolver.
		a.dns = fmt.Sprintf("169.254.20.%d", 11+dnsAddrs.Add(1)%240)
	}
	args := []string{"agent", "--data-dir", a.dir, "--node-name", a.node,
		"--agent-addr", a.addr, "--sync-period", "2s", "--usage-period", "1s"}
	if !fake {
		args = append(args, "--cluster-dns", a.dns, "--dns-upstream", "127.0.0.1:9")
	}
	a.cmd = exec.Command(skiffBin, append(args, a.args...)...)
	a.cmd.Env = append(os.Environ(), "SKIFF_BRIDGE="+a.bridge, "SKIFF_PROXY_TABLE="+a.proxyTable())
	a.cmd.Stdout, a.cmd.Stderr = a, a
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(a.cmd, a.exited)
}

func (a *agentProc) signal(sig syscall.Signal) {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	select {
	case <-a.exited:
		return
	default:
	}
	a.cmd.Process.Signal(sig)
	select {
	case <-a.exited:
	case <-time.After(15 * time.Second):
		a.cmd.Process.Kill()
		<-a.exited
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// podStatus reads a pod's status through the CLI.
func getPod(t *testing.T, cfg, name string) (*corev1.Pod, error) {
	out, errOut, ok := cli(t, cfg, "", "get", "pod", name, "-o", "json")
	if !ok {
		return nil, errors.New(errOut)
	}
	var pod corev1.Pod
	if err := json.Unmarshal([]byte(out), &pod); err != nil {
		return nil, err
	}
	return &pod, nil
}

func podRunningReady(t *testing.T, cfg, name string) (*corev1.Pod, error) {
	pod, err := getPod(t, cfg, name)
	if err != nil {
		return nil, err
	}
	if pod.Status.Phase != corev1.PodRunning {
		return nil, fmt.Errorf("phase %s: %+v", pod.Status.Phase, pod.Status.ContainerStatuses)
	}
	for _, c := range pod.Status.ContainerStatuses {
		if !c.Ready {
			return nil, fmt.Errorf("container %s not ready: %+v", c.Name, c.State)
		}
	}
	return pod, nil
}

func httpGet(url string) (string, error) {
	hc := &http.Client{Timeout: 3 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), err
}

// taskPID asks containerd for the PID of a pod's container task.
func taskPID(t *testing.T, a *agentProc, containerID string) string {
	out, err := exec.Command("ctr", "-a", filepath.Join(a.dir, "containerd", "containerd.sock"), "-n", "skiff-"+a.node,
		"tasks", "ls").CombinedOutput()
	if err != nil {
		t.Fatalf("ctr tasks ls: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == containerID {
			return f[1]
		}
	}
	t.Fatalf("no task %s in:\n%s", containerID, out)
	return ""
}

const e2ePodManifest = `apiVersion: v1
kind: ConfigMap
metadata: {name: echo-config}
data: {greeting: "hello from a configmap"}
---
apiVersion: v1
kind: Secret
metadata: {name: echo-secret}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Pod
metadata: {name: echo, labels: {app: echo}}
spec:
  nodeName: NODE
  terminationGracePeriodSeconds: 5
  containers:
  - name: echo
    image: skiff.local/echo:1
    env:
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: echo-config, key: greeting}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: echo-secret, key: password}}}
    - {name: MY_POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: FILES_DIR, value: /etc/config}
    ports: [{containerPort: 8080, name: http}]
    volumeMounts:
    - {name: config, mountPath: /etc/config}
    - {name: secret, mountPath: /etc/secret}
    readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1}
    livenessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1, failureThreshold: 2}
    resources: {requests: {cpu: 100m, memory: 32Mi}, limits: {cpu: 500m, memory: 64Mi}}
  volumes:
  - {name: config, configMap: {name: echo-config}}
  - {name: secret, secret: {secretName: echo-secret}}
`

// TestAgentEndToEnd runs a master and a separate agent that joins it with
// a worker token, then drives real pods through containerd and CNI.
func TestAgentEndToEnd(t *testing.T) {
	image := requireAgentPrereqs(t)
	// Registered first, so it runs last: after the agents are gone.
	hostBefore := readHostNetState()
	t.Cleanup(func() { restoreHostNetState(t, hostBefore) })
	m := newMaster(t)
	m.start("--init", "--cluster-cidr", "10.44.0.0/16", "--metrics-period", "1s", "--hpa-sync-period", "1s")
	admin := filepath.Join(m.dir, "admin.conf")
	token := strings.TrimSpace(readFile(t, filepath.Join(m.dir, "worker-token")))

	a := &agentProc{t: t, dir: t.TempDir(), addr: freeAddr(t), node: "e2e-" + randHex(3), bridge: "skt" + randHex(3),
		args: []string{"--join", m.api, "--token", token}}
	// The air-gapped path: a tar in <data-dir>/images is imported at start.
	if err := os.MkdirAll(filepath.Join(a.dir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.dir, "images", "echo.tar"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	a.start()
	t.Cleanup(func() {
		// Pods first (and what makes pods), so the agent releases their
		// network and files.
		cli(t, admin, "", "delete", "deployments", "--all")
		cli(t, admin, "", "delete", "replicasets", "--all")
		cli(t, admin, "", "delete", "pods", "--all")
		waitNoPods(t, admin, 20*time.Second)
		// An agent's own shutdown leaves containers running (by design):
		// let it finish stopping the deleted pods' containers first.
		sock := filepath.Join(a.dir, "containerd", "containerd.sock")
		waitNoContainers(t, sock, "skiff-"+a.node, 30*time.Second)
		a.signal(syscall.SIGTERM)
		removeAgentLeftovers(t, a, sock)
		if t.Failed() {
			t.Logf("agent log:\n%s", a.logs())
			t.Logf("master log:\n%s", m.logs())
		}
	})
	waitFor(t, "node Ready", 30*time.Second, func() error {
		out, _, ok := cli(t, admin, "", "get", "nodes", a.node, "-o", "wide")
		if !ok || !strings.Contains(out, "Ready") || !strings.Contains(out, "containerd://") {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	waitFor(t, "echo image imported", 20*time.Second, func() error {
		if !strings.Contains(a.logs(), "skiff.local/echo:1") {
			return errors.New("not yet")
		}
		return nil
	})

	mustCLI(t, admin, strings.ReplaceAll(e2ePodManifest, "NODE", a.node), "apply", "-f", "-")
	var pod *corev1.Pod
	waitFor(t, "pod Running and Ready", 30*time.Second, func() (err error) {
		pod, err = podRunningReady(t, admin, "echo")
		return err
	})
	if pod.Status.PodIP == "" || !strings.HasPrefix(pod.Status.PodIP, "10.44.") {
		t.Fatalf("pod IP %q is not from the node's pod CIDR", pod.Status.PodIP)
	}
	base := "http://" + pod.Status.PodIP + ":8080"
	body, err := httpGet(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GREETING=hello from a configmap", "PASSWORD=s3cret", "MY_POD=echo", "hostname: echo"} {
		if !strings.Contains(body, want) {
			t.Fatalf("the pod's answer lacks %q:\n%s", want, body)
		}
	}
	if got, err := httpGet(base + "/files/greeting"); err != nil || got != "hello from a configmap" {
		t.Fatalf("configMap volume: %q %v", got, err)
	}

	t.Run("logs, exec and images through the API", func(t *testing.T) {
		if out := mustCLI(t, admin, "", "logs", "echo"); !strings.Contains(out, "listening on :8080") {
			t.Fatalf("logs:\n%s", out)
		}
		if out := mustCLI(t, admin, "", "logs", "echo", "--tail", "1", "--timestamps"); strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "20") {
			t.Fatalf("logs --tail 1 --timestamps: %q", out)
		}
		if out := mustCLI(t, admin, "", "exec", "echo", "--", "cat", "/etc/config/greeting"); out != "hello from a configmap" {
			t.Fatalf("exec cat: %q", out)
		}
		cmd := exec.Command(skiffBin, "exec", "echo", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		cmd.Env = append(os.Environ(), "SKIFF_CONFIG="+admin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || stdout.String() != "out\n" || !strings.Contains(stderr.String(), "err") {
			t.Fatalf("exec exit code and streams: %v %q %q", err, stdout.String(), stderr.String())
		}
		// A tar dropped into <data-dir>/images while the agent runs is
		// imported too.
		two, _ := filepath.Abs("../../examples/images/echo-2.tar")
		raw, err := os.ReadFile(two)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a.dir, "images", "echo-2.tar.part"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(a.dir, "images", "echo-2.tar.part"), filepath.Join(a.dir, "images", "echo-2.tar")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "echo:2 imported from the images directory", 20*time.Second, func() error {
			if out, _, _ := cli(t, admin, "", "image", "ls", "--node", a.node); !strings.Contains(out, "skiff.local/echo:2") {
				return errors.New(out)
			}
			return nil
		})
		if out := mustCLI(t, admin, "", "image", "import", two, "--node", a.node); !strings.Contains(out, "imported skiff.local/echo:2") {
			t.Fatalf("image import:\n%s", out)
		}
		if out := mustCLI(t, admin, "", "image", "ls"); !strings.Contains(out, "skiff.local/echo:2") || !strings.Contains(out, a.node) {
			t.Fatalf("image ls:\n%s", out)
		}
		// A docker-archive tar (docker save's format) imports as well.
		docker := filepath.Join(t.TempDir(), "echo-docker.tar")
		if out, err := exec.Command("skopeo", "copy", "--quiet", "oci-archive:"+image, "docker-archive:"+docker+":skiff.local/echo:docker").CombinedOutput(); err != nil {
			t.Fatalf("skopeo: %v\n%s", err, out)
		}
		if out := mustCLI(t, admin, "", "image", "import", docker); !strings.Contains(out, "skiff.local/echo:docker") {
			t.Fatalf("docker-archive import:\n%s", out)
		}
		// Resource limits are the container's cgroup limits (64Mi here).
		id := strings.TrimPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://")
		limits := map[string]string{
			"memory/skiff-" + a.node + "/" + id + "/memory.limit_in_bytes": "67108864", // 64Mi
			"cpu/skiff-" + a.node + "/" + id + "/cpu.cfs_quota_us":         "50000",    // 500m of a 100ms period
			"cpu/skiff-" + a.node + "/" + id + "/cpu.shares":               "102",      // 100m requested
		}
		if !fileExists("/sys/fs/cgroup/memory") {
			t.Log("cgroup v2 host: the v1 limit files are not there to check")
			limits = nil
		}
		for file, want := range limits {
			got, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", file))
			if err != nil || strings.TrimSpace(string(got)) != want {
				t.Errorf("%s: %q %v, want %s", file, got, err, want)
			}
		}
	})

	t.Run("usage is scraped into PodMetrics and NodeMetrics", func(t *testing.T) {
		waitFor(t, "usage reports", 15*time.Second, func() error {
			pm, _, ok := cli(t, admin, "", "get", "podmetrics", "echo", "-o", "json")
			nm, _, ok2 := cli(t, admin, "", "get", "nodemetrics", a.node, "-o", "json")
			if !ok || !ok2 || !strings.Contains(pm, `"memory"`) || !strings.Contains(pm, `"cpu"`) || !strings.Contains(nm, `"memory"`) {
				return fmt.Errorf("podmetrics %s nodemetrics %s", pm, nm)
			}
			return nil
		})
		out := mustCLI(t, admin, "", "top", "nodes")
		if !regexp.MustCompile(`(?m)^NAME\s+CPU\(cores\)\s+CPU%\s+MEMORY\(bytes\)\s+MEMORY%\n` + regexp.QuoteMeta(a.node) + `\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%`).MatchString(out) {
			t.Errorf("skiff top nodes:\n%s", out)
		}
		out = mustCLI(t, admin, "", "top", "pods", "--containers")
		if !regexp.MustCompile(`(?m)^echo\s+echo\s+\d+m\s+\d+Mi`).MatchString(out) {
			t.Errorf("skiff top pods --containers:\n%s", out)
		}
		if _, errOut, ok := cli(t, admin, "", "top", "pods", "--sort-by", "disk"); ok || !strings.Contains(errOut, "--sort-by") {
			t.Errorf("top pods --sort-by disk: ok %v, stderr %q", ok, errOut)
		}
		// Clients read metrics; only the leader's scrapes write them.
		_, errOut, ok := cli(t, admin, "apiVersion: metrics.k8s.io/v1beta1\nkind: NodeMetrics\nmetadata: {name: "+a.node+"}\n", "apply", "-f", "-")
		if ok || !strings.Contains(errOut, "collected from the nodes") {
			t.Errorf("writing NodeMetrics: ok %v, stderr %q", ok, errOut)
		}
	})

	t.Run("configmap change reaches the mounted file", func(t *testing.T) {
		mustCLI(t, admin, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: echo-config}\ndata: {greeting: changed}\n", "apply", "-f", "-")
		waitFor(t, "new content in the file", 20*time.Second, func() error {
			got, err := httpGet(base + "/files/greeting")
			if err != nil || got != "changed" {
				return fmt.Errorf("%q %v", got, err)
			}
			return nil
		})
	})

	t.Run("agent restart adopts the running container", func(t *testing.T) {
		id := strings.TrimPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://")
		before := taskPID(t, a, id)
		a.signal(syscall.SIGKILL)
		if _, err := httpGet(base + "/healthz"); err != nil {
			t.Fatalf("the pod stopped answering when the agent died: %v", err)
		}
		a.args = nil // the node keeps its certificate: no token needed again
		a.start()
		waitFor(t, "agent back", 20*time.Second, func() error {
			if strings.Count(a.logs(), "ready (pod CIDR") < 2 {
				return errors.New("not yet")
			}
			return nil
		})
		time.Sleep(3 * time.Second) // a resync or two
		if after := taskPID(t, a, id); after != before {
			t.Fatalf("task PID %s became %s: the container was restarted", before, after)
		}
		p, err := podRunningReady(t, admin, "echo")
		if err != nil || p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Fatalf("after the agent restart: %v %+v", err, p)
		}
	})

	t.Run("containerd dying is restarted and the pod keeps running", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(a.dir, "containerd", "containerd.pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid := strings.TrimSpace(string(raw))
		if err := exec.Command("kill", "-9", pid).Run(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a new containerd", 20*time.Second, func() error {
			raw, _ := os.ReadFile(filepath.Join(a.dir, "containerd", "containerd.pid"))
			if strings.TrimSpace(string(raw)) == pid {
				return errors.New("same pid")
			}
			_, _, ok := cli(t, admin, "", "exec", "echo", "--", "true")
			if !ok {
				return errors.New("exec does not work yet")
			}
			return nil
		})
		if _, err := httpGet(base + "/healthz"); err != nil {
			t.Fatalf("the pod stopped answering: %v", err)
		}
	})

	t.Run("masters away: pods keep running, the agent catches up", func(t *testing.T) {
		m.stop()
		time.Sleep(2 * time.Second)
		if _, err := httpGet(base + "/healthz"); err != nil {
			t.Fatalf("the pod stopped answering without the master: %v", err)
		}
		m.start()
		manifest := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: after}\nspec:\n  nodeName: %s\n  containers: [{name: c, image: skiff.local/echo:1}]\n", a.node)
		mustCLI(t, admin, manifest, "apply", "-f", "-")
		waitFor(t, "a pod created after the master came back runs", 60*time.Second, func() error {
			_, err := podRunningReady(t, admin, "after")
			return err
		})
		mustCLI(t, admin, "", "delete", "pod", "after", "--grace-period", "1")
	})

	t.Run("failing liveness probe restarts the container", func(t *testing.T) {
		resp, err := http.Post(base+"/healthz/fail", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		waitFor(t, "restartCount 1", 30*time.Second, func() error {
			p, err := podRunningReady(t, admin, "echo")
			if err != nil {
				return err
			}
			if n := p.Status.ContainerStatuses[0].RestartCount; n != 1 {
				return fmt.Errorf("restartCount %d", n)
			}
			return nil
		})
		out := mustCLI(t, admin, "", "get", "events")
		if !strings.Contains(out, "failed liveness probe") {
			t.Fatalf("no event about the liveness probe:\n%s", out)
		}
		// The killed instance's output stays readable.
		if out := mustCLI(t, admin, "", "logs", "echo", "--previous"); !strings.Contains(out, "SIGTERM received") {
			t.Fatalf("logs --previous:\n%s", out)
		}
	})

	t.Run("a missing image ends in ImagePullBackOff", func(t *testing.T) {
		manifest := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: nope}\nspec:\n  nodeName: %s\n  containers: [{name: c, image: 127.0.0.1:1/none/such:1}]\n", a.node)
		mustCLI(t, admin, manifest, "apply", "-f", "-")
		// ErrImagePull lasts until the next sync, a moment: the event keeps
		// it; the status then says ImagePullBackOff with the same words.
		waitFor(t, "ImagePullBackOff with the registry's words", 40*time.Second, func() error {
			p, err := getPod(t, admin, "nope")
			if err != nil {
				return err
			}
			w := p.Status.ContainerStatuses
			if len(w) != 1 || w[0].State.Waiting == nil || w[0].State.Waiting.Reason != "ImagePullBackOff" ||
				!strings.Contains(w[0].State.Waiting.Message, "127.0.0.1:1") || !strings.Contains(w[0].State.Waiting.Message, "connection refused") {
				return fmt.Errorf("%+v", w)
			}
			return nil
		})
		if out := mustCLI(t, admin, "", "describe", "pod", "nope"); !strings.Contains(out, "Failed to pull image") {
			t.Fatalf("no event about the failed pull:\n%s", out)
		}
		mustCLI(t, admin, "", "delete", "pod", "nope")
	})

	t.Run("a pull from a registry works", func(t *testing.T) {
		reg := startRegistry(t)
		push := exec.Command("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci-archive:"+image, "docker://"+reg+"/test/echo:1")
		if out, err := push.CombinedOutput(); err != nil {
			t.Fatalf("skopeo copy: %v\n%s", err, out)
		}
		manifest := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: pulled}\nspec:\n  nodeName: %s\n  containers: [{name: c, image: %s/test/echo:1}]\n", a.node, reg)
		mustCLI(t, admin, manifest, "apply", "-f", "-")
		waitFor(t, "pulled pod Running", 60*time.Second, func() error {
			_, err := podRunningReady(t, admin, "pulled")
			return err
		})
		mustCLI(t, admin, "", "delete", "pod", "pulled", "--grace-period", "1")
	})

	t.Run("imagePullSecrets open a password-protected registry", func(t *testing.T) {
		reg := startRegistryWith(t, "skiff-test")
		push := exec.Command("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", registryUser+":"+registryPassword,
			"oci-archive:"+image, "docker://"+reg+"/private/echo:1")
		if out, err := push.CombinedOutput(); err != nil {
			t.Fatalf("skopeo copy: %v\n%s", err, out)
		}
		auth := base64.StdEncoding.EncodeToString([]byte(registryUser + ":" + registryPassword))
		manifest := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: regcred}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths": {"%[2]s": {"auth": "%[3]s"}}}'
---
apiVersion: v1
kind: Pod
metadata: {name: private}
spec:
  nodeName: %[1]s
  imagePullSecrets: [{name: regcred}]
  containers: [{name: c, image: %[2]s/private/echo:1}]
---
apiVersion: v1
kind: Pod
metadata: {name: nocreds}
spec:
  nodeName: %[1]s
  containers: [{name: c, image: %[2]s/private/echo:1, imagePullPolicy: Always}]
`, a.node, reg, auth)
		mustCLI(t, admin, manifest, "apply", "-f", "-")
		waitFor(t, "the pod with the pull secret runs", 60*time.Second, func() error {
			_, err := podRunningReady(t, admin, "private")
			return err
		})
		waitFor(t, "the pod without it is refused", 30*time.Second, func() error {
			p, err := getPod(t, admin, "nocreds")
			if err != nil {
				return err
			}
			if w := p.Status.ContainerStatuses; len(w) != 1 || w[0].State.Waiting == nil || !strings.Contains(w[0].State.Waiting.Reason, "Image") {
				return fmt.Errorf("%+v", w)
			}
			return nil
		})
		mustCLI(t, admin, "", "delete", "pods", "private", "nocreds", "--grace-period", "1")
	})

	t.Run("bad input ends in a clear status and disturbs nothing", func(t *testing.T) {
		manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: badref}
spec:
  nodeName: %[1]s
  containers: [{name: c, image: "Skiff.local/UPPER:1"}]
---
apiVersion: v1
kind: Pod
metadata: {name: nocmd}
spec:
  nodeName: %[1]s
  containers: [{name: c, image: skiff.local/echo:1, command: [/no/such/program]}]
---
apiVersion: v1
kind: Pod
metadata: {name: noport}
spec:
  nodeName: %[1]s
  containers: [{name: c, image: skiff.local/echo:1, readinessProbe: {tcpSocket: {port: 9999}, periodSeconds: 1}}]
---
apiVersion: v1
kind: Pod
metadata: {name: nokey}
spec:
  nodeName: %[1]s
  containers: [{name: c, image: skiff.local/echo:1, volumeMounts: [{name: v, mountPath: /v}]}]
  volumes: [{name: v, configMap: {name: echo-config, items: [{key: missing, path: m}]}}]
`, a.node)
		mustCLI(t, admin, manifest, "apply", "-f", "-")
		want := map[string][]string{
			"badref": {"InvalidImageName", "Skiff.local/UPPER:1"},
			"nocmd":  {"/no/such/program"},
			"nokey":  {"CreateContainerConfigError", "missing"},
		}
		for name, words := range want {
			waitFor(t, name+" explains itself", 30*time.Second, func() error {
				p, err := getPod(t, admin, name)
				if err != nil {
					return err
				}
				raw, _ := json.Marshal(p.Status)
				for _, w := range words {
					if !strings.Contains(string(raw), w) {
						return fmt.Errorf("status lacks %q: %s", w, raw)
					}
				}
				return nil
			})
		}
		// A probe on a port nobody opens: running, never ready.
		waitFor(t, "noport running but not ready", 30*time.Second, func() error {
			p, err := getPod(t, admin, "noport")
			if err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].Ready {
				return fmt.Errorf("%s %+v", p.Status.Phase, p.Status.ContainerStatuses)
			}
			return nil
		})
		// The pod that was running all along still is.
		if _, err := podRunningReady(t, admin, "echo"); err != nil {
			t.Fatalf("the echo pod was disturbed: %v", err)
		}
		mustCLI(t, admin, "", "delete", "pods", "badref", "nocmd", "nokey", "noport", "--grace-period", "1")
	})

	t.Run("the scheduler binds pods that name no node, and says why one cannot go anywhere", func(t *testing.T) {
		manifest := `apiVersion: v1
kind: Pod
metadata: {name: unbound}
spec:
  containers: [{name: c, image: skiff.local/echo:1, resources: {requests: {cpu: 50m, memory: 16Mi}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: picky}
spec:
  nodeSelector: {disk: ssd}
  containers: [{name: c, image: skiff.local/echo:1}]
`
		// `get events -w` shows what happens as it happens.
		watch := exec.Command(skiffBin, "get", "events", "-w")
		watch.Env = append(os.Environ(), "SKIFF_CONFIG="+admin)
		var watched lockedBuffer
		watched.mu, watched.buf = &sync.Mutex{}, &bytes.Buffer{}
		watch.Stdout = watched
		if err := watch.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { watch.Process.Kill(); watch.Wait() }()
		out := mustCLI(t, admin, manifest, "apply", "-f", "-")
		if strings.Contains(out, "does not act") {
			t.Fatalf("the scheduler's fields still warn:\n%s", out)
		}
		waitFor(t, "the unbound pod placed and running", 30*time.Second, func() error {
			p, err := podRunningReady(t, admin, "unbound")
			if err != nil {
				return err
			}
			if p.Spec.NodeName != a.node {
				return fmt.Errorf("bound to %q", p.Spec.NodeName)
			}
			return nil
		})
		waitFor(t, "picky explained", 20*time.Second, func() error {
			out, _, _ := cli(t, admin, "", "describe", "pod", "picky")
			if !strings.Contains(out, "FailedScheduling") || !strings.Contains(out, "nodes are available: 1 node(s) didn't match Pod's node affinity/selector") {
				return errors.New(out)
			}
			return nil
		})
		waitFor(t, "get events -w saw both pods' events", 10*time.Second, func() error {
			watched.mu.Lock()
			defer watched.mu.Unlock()
			if got := watched.buf.String(); !strings.Contains(got, "pod/unbound") || !strings.Contains(got, "FailedScheduling") {
				return errors.New(got)
			}
			return nil
		})
		mustCLI(t, admin, "", "delete", "pods", "unbound", "picky", "--grace-period", "1")
	})

	t.Run("a ReplicaSet keeps its replicas running", func(t *testing.T) {
		rs := func(n int) string {
			return fmt.Sprintf(`apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers: [{name: web, image: skiff.local/echo:1, readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1}}]
`, n)
		}
		if out := mustCLI(t, admin, rs(2), "apply", "-f", "-"); strings.Contains(out, "does not act") {
			t.Fatalf("ReplicaSet fields warn:\n%s", out)
		}
		running := func(want int) func() error {
			return func() error {
				out, _, ok := cli(t, admin, "", "get", "pods", "-l", "app=web", "-o", "json")
				if !ok {
					return errors.New(out)
				}
				var list corev1.PodList
				if err := json.Unmarshal([]byte(out), &list); err != nil {
					return err
				}
				ready := 0
				for _, p := range list.Items {
					if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready {
						ready++
					}
				}
				if ready != want || len(list.Items) != want {
					return fmt.Errorf("%d pods, %d ready; want %d", len(list.Items), ready, want)
				}
				return nil
			}
		}
		waitFor(t, "2 replicas ready", 60*time.Second, running(2))
		// The controller counts readiness in batches (100 ms).
		waitFor(t, "the ReplicaSet counting them", 10*time.Second, func() error {
			if out := mustCLI(t, admin, "", "get", "rs", "web", "-o", "json"); !strings.Contains(out, `"readyReplicas": 2`) && !strings.Contains(out, `"readyReplicas":2`) {
				return fmt.Errorf("ReplicaSet status:\n%s", out)
			}
			return nil
		})
		// A Service in front of them: its cluster IP balances over both,
		// from the host, through the agent's nftables proxy.
		mustCLI(t, admin, "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}\n", "apply", "-f", "-")
		var svc corev1.Service
		if err := json.Unmarshal([]byte(mustCLI(t, admin, "", "get", "svc", "web", "-o", "json")), &svc); err != nil {
			t.Fatal(err)
		}
		vip := "http://" + svc.Spec.ClusterIP + "/"
		// A new connection per request: balancing is per connection.
		fresh := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		hosts := func() map[string]int {
			seen := map[string]int{}
			for range 30 {
				resp, err := fresh.Get(vip)
				if err != nil {
					seen["error: "+err.Error()]++
					continue
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body := string(raw)
				for _, l := range strings.Split(body, "\n") {
					if h, ok := strings.CutPrefix(l, "hostname: "); ok {
						seen[h]++
					}
				}
			}
			return seen
		}
		waitFor(t, "30 requests to the cluster IP reaching both pods", 30*time.Second, func() error {
			if seen := hosts(); len(seen) != 2 || func() bool {
				for h := range seen {
					if !strings.HasPrefix(h, "web-") {
						return true
					}
				}
				return false
			}() {
				return fmt.Errorf("answers by hostname: %v", seen)
			}
			return nil
		})
		// By name, from a pod: the node's cluster DNS, then the VIP.
		waitFor(t, "a pod resolving the service by name and reaching it", 30*time.Second, func() error {
			out, errOut, ok := cli(t, admin, "", "exec", "echo", "--", "nslookup", "web.default.svc.cluster.local")
			if !ok || !strings.Contains(out, svc.Spec.ClusterIP) {
				return fmt.Errorf("nslookup: %s%s", out, errOut)
			}
			out, errOut, ok = cli(t, admin, "", "exec", "echo", "--", "wget", "-qO-", "http://web/")
			if !ok || !strings.Contains(out, "hostname: web-") {
				return fmt.Errorf("wget http://web/ (search list, ndots): %s%s", out, errOut)
			}
			return nil
		})
		if out, _, _ := cli(t, admin, "", "exec", "echo", "--", "cat", "/etc/resolv.conf"); !strings.Contains(out, "nameserver "+a.dns) ||
			!strings.Contains(out, "search default.svc.cluster.local svc.cluster.local cluster.local") || !strings.Contains(out, "ndots:5") {
			t.Errorf("the pod's resolv.conf:\n%s", out)
		}
		// Type NodePort: the same pods on a port of the node's own
		// addresses (here its bridge address: loopback node ports are not
		// served, as with kube-proxy's nftables mode), from the host and
		// from a pod (masqueraded, so the answer comes back through the node).
		mustCLI(t, admin, "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: NodePort, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}\n", "apply", "-f", "-")
		var np corev1.Service
		if err := json.Unmarshal([]byte(mustCLI(t, admin, "", "get", "svc", "web", "-o", "json")), &np); err != nil {
			t.Fatal(err)
		}
		if np.Spec.ClusterIP != svc.Spec.ClusterIP || np.Spec.Ports[0].NodePort < 30000 || np.Spec.Ports[0].NodePort > 32767 {
			t.Fatalf("NodePort service: cluster IP %s (was %s), node port %d", np.Spec.ClusterIP, svc.Spec.ClusterIP, np.Spec.Ports[0].NodePort)
		}
		var node corev1.Node
		if err := json.Unmarshal([]byte(mustCLI(t, admin, "", "get", "node", a.node, "-o", "json")), &node); err != nil {
			t.Fatal(err)
		}
		gw, err := netip.ParsePrefix(node.Spec.PodCIDR)
		if err != nil {
			t.Fatal(err)
		}
		nodePortURL := fmt.Sprintf("http://%s:%d/", gw.Addr().Next(), np.Spec.Ports[0].NodePort)
		waitFor(t, "the node port answering the host and a pod", 30*time.Second, func() error {
			resp, err := fresh.Get(nodePortURL)
			if err != nil {
				return fmt.Errorf("from the host: %w", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "hostname: web-") {
				return fmt.Errorf("from the host: %s", body)
			}
			out, errOut, ok := cli(t, admin, "", "exec", "echo", "--", "wget", "-qO-", nodePortURL)
			if !ok || !strings.Contains(out, "hostname: web-") {
				return fmt.Errorf("from a pod: %s%s", out, errOut)
			}
			return nil
		})
		if out := mustCLI(t, admin, "", "get", "svc", "web"); !strings.Contains(out, fmt.Sprintf("80:%d/TCP", np.Spec.Ports[0].NodePort)) {
			t.Errorf("get svc:\n%s", out)
		}
		// Scaling down under load: the pod that goes leaves the Service
		// before it gets SIGTERM, so no request fails.
		stopLoad := make(chan struct{})
		var sent, failed atomic.Int64
		var lastErr atomic.Value
		loadDone := make(chan struct{})
		go func() {
			defer close(loadDone)
			for {
				select {
				case <-stopLoad:
					return
				case <-time.After(20 * time.Millisecond):
				}
				sent.Add(1)
				resp, err := fresh.Get(vip)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				if err != nil {
					failed.Add(1)
					lastErr.Store(err.Error())
				}
			}
		}()
		mustCLI(t, admin, rs(1), "apply", "-f", "-")
		waitFor(t, "scaled to 1", 60*time.Second, running(1))
		time.Sleep(time.Second)
		close(stopLoad)
		<-loadDone
		t.Logf("requests sent / failed while scaling 2 -> 1 behind the Service: %d / %d", sent.Load(), failed.Load())
		if failed.Load() > 0 {
			t.Errorf("%d of %d requests failed while scaling down (last: %v)", failed.Load(), sent.Load(), lastErr.Load())
		}
		waitFor(t, "the cluster IP reaching the one pod left", 30*time.Second, func() error {
			if seen := hosts(); len(seen) != 1 {
				return fmt.Errorf("answers by hostname: %v", seen)
			}
			return nil
		})
		mustCLI(t, admin, "", "delete", "svc", "web")
		waitFor(t, "the deleted service's cluster IP refusing", 30*time.Second, func() error {
			if _, err := fresh.Get(vip); err == nil {
				return errors.New("it still answers")
			}
			return nil
		})
		// The garbage collector removes the pods with their ReplicaSet.
		mustCLI(t, admin, "", "delete", "rs", "web")
		waitFor(t, "the ReplicaSet's pods collected", 60*time.Second, func() error {
			out, _, _ := cli(t, admin, "", "get", "pods", "-l", "app=web", "-o", "name")
			if strings.TrimSpace(out) != "" {
				return errors.New(out)
			}
			return nil
		})
	})

	t.Run("a Deployment rolls out, rolls back, and goes with its pods", func(t *testing.T) {
		manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: site}
spec:
  replicas: 2
  selector: {matchLabels: {app: site}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: site}}
    spec:
      terminationGracePeriodSeconds: 2
      containers: [{name: site, image: skiff.local/echo:1, readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1}}]
`
		if out := mustCLI(t, admin, manifest, "apply", "-f", "-"); strings.Contains(out, "does not act") {
			t.Fatalf("Deployment fields warn:\n%s", out)
		}
		status := func() string {
			cmd := exec.Command(skiffBin, "rollout", "status", "deployment/site", "--timeout", "90s")
			cmd.Env = append(os.Environ(), "SKIFF_CONFIG="+admin)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("rollout status: %v\n%s", err, out)
			}
			return string(out)
		}
		if out := status(); !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("rollout status:\n%s", out)
		}
		mustCLI(t, admin, "", "set", "image", "deployment/site", "site=skiff.local/echo:2")
		if out := status(); !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("rollout status after set image:\n%s", out)
		}
		images := func() string {
			out := mustCLI(t, admin, "", "get", "pods", "-l", "app=site", "-o", "json")
			var list corev1.PodList
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				t.Fatal(err)
			}
			var imgs []string
			for _, p := range list.Items {
				if p.DeletionTimestamp == nil {
					imgs = append(imgs, p.Spec.Containers[0].Image)
				}
			}
			return strings.Join(imgs, ",")
		}
		if got := images(); got != "skiff.local/echo:2,skiff.local/echo:2" {
			t.Fatalf("pods after the rollout run %q", got)
		}
		if out := mustCLI(t, admin, "", "rollout", "history", "deployment/site"); !strings.Contains(out, "echo:1") || !strings.Contains(out, "echo:2") {
			t.Fatalf("rollout history:\n%s", out)
		}
		mustCLI(t, admin, "", "rollout", "undo", "deployment/site")
		status()
		waitFor(t, "back on echo:1", 60*time.Second, func() error {
			if got := images(); got != "skiff.local/echo:1,skiff.local/echo:1" {
				return errors.New(got)
			}
			return nil
		})
		mustCLI(t, admin, "", "delete", "deployment", "site")
		waitFor(t, "ReplicaSets and pods collected", 60*time.Second, func() error {
			rs, _, _ := cli(t, admin, "", "get", "rs", "-o", "name")
			pods, _, _ := cli(t, admin, "", "get", "pods", "-l", "app=site", "-o", "name")
			if strings.TrimSpace(rs+pods) != "" {
				return errors.New(rs + pods)
			}
			return nil
		})
	})

	t.Run("an autoscaler follows CPU use up and back down", func(t *testing.T) {
		mustCLI(t, admin, `apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: burn, image: skiff.local/echo:1, resources: {requests: {cpu: 50m}}, readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 3
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}}]
  behavior: {scaleDown: {stabilizationWindowSeconds: 5}}
`, "apply", "-f", "-")
		replicas := func() int32 {
			var d appsv1.Deployment
			json.Unmarshal([]byte(mustCLI(t, admin, "", "get", "deploy", "burn", "-o", "json")), &d)
			return ptr.Deref(d.Spec.Replicas, 0)
		}
		var podIP string
		waitFor(t, "the burn pod running, and its CPU measured", 60*time.Second, func() error {
			out := mustCLI(t, admin, "", "get", "pods", "-l", "app=burn", "-o", "json")
			var list corev1.PodList
			json.Unmarshal([]byte(out), &list)
			if len(list.Items) != 1 || list.Items[0].Status.PodIP == "" {
				return errors.New(out)
			}
			podIP = list.Items[0].Status.PodIP
			if out := mustCLI(t, admin, "", "get", "hpa", "burn"); !regexp.MustCompile(`\d+%/50%`).MatchString(out) {
				return fmt.Errorf("get hpa:\n%s", out)
			}
			return nil
		})
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			hc := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if resp, err := hc.Get("http://" + podIP + ":8080/burn?ms=500"); err == nil {
					resp.Body.Close()
				}
			}
		}()
		start := time.Now()
		waitFor(t, "scaled up to the maximum, 3", 60*time.Second, func() error {
			if n := replicas(); n != 3 {
				return fmt.Errorf("replicas %d", n)
			}
			return nil
		})
		t.Logf("load on -> 3 replicas: %s", time.Since(start).Round(100*time.Millisecond))
		close(stop)
		<-done
		start = time.Now()
		waitFor(t, "back down to 1 after the 5 s window", 90*time.Second, func() error {
			if n := replicas(); n != 1 {
				return fmt.Errorf("replicas %d", n)
			}
			return nil
		})
		t.Logf("load off -> 1 replica: %s", time.Since(start).Round(100*time.Millisecond))
		if out := mustCLI(t, admin, "", "get", "events"); !strings.Contains(out, "SuccessfulRescale") || !strings.Contains(out, "New size: 3") {
			t.Errorf("events:\n%s", out)
		}
		mustCLI(t, admin, "", "delete", "hpa", "burn")
		mustCLI(t, admin, "", "delete", "deployment", "burn")
	})

	t.Run("hostPort publishes a pod on the node, preStop runs before SIGTERM", func(t *testing.T) {
		hostAddr := freeAddr(t)
		_, port, _ := strings.Cut(hostAddr, ":")
		manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: published}
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 10
  containers:
  - name: c
    image: skiff.local/echo:1
    ports: [{containerPort: 8080, hostPort: %s}]
    lifecycle: {preStop: {sleep: {seconds: 2}}}
`, a.node, port)
		mustCLI(t, admin, manifest, "apply", "-f", "-")
		waitFor(t, "published pod running", 30*time.Second, func() error {
			_, err := podRunningReady(t, admin, "published")
			return err
		})
		waitFor(t, "the pod answers on the node's port", 10*time.Second, func() error {
			_, err := httpGet("http://127.0.0.1:" + port + "/healthz")
			return err
		})
		start := time.Now()
		mustCLI(t, admin, "", "delete", "pod", "published")
		if took := time.Since(start); took < 2*time.Second {
			t.Fatalf("the delete returned after %s: the 2 s preStop sleep did not run first", took)
		}
		if _, err := httpGet("http://127.0.0.1:" + port + "/healthz"); err == nil {
			t.Fatal("the host port still answers after the pod is gone")
		}
	})

	t.Run("a local-path claim keeps its data across pods", func(t *testing.T) {
		testLocalPathClaims(t, admin, a)
	})

	t.Run("ca rotate re-issues the node's certificate", func(t *testing.T) {
		if strings.Contains(a.logs(), "CA changed") {
			t.Fatalf("the agent saw a CA change before any rotation:\n%s", a.logs())
		}
		mustCLI(t, admin, "", "ca", "rotate")
		waitFor(t, "the agent renews with the new CA", 60*time.Second, func() error {
			if !strings.Contains(a.logs(), "node certificate renewed") {
				return errors.New("not yet")
			}
			return nil
		})
		// Masters still reach the agent, the agent still reaches them.
		if out := mustCLI(t, admin, "", "exec", "echo", "--", "cat", "/etc/config/greeting"); out == "" {
			t.Fatal("exec after the rotation printed nothing")
		}
		waitFor(t, "heartbeat after the rotation", 30*time.Second, func() error {
			out, _, ok := cli(t, admin, "", "get", "nodes", a.node)
			if !ok || !strings.Contains(out, "Ready") {
				return errors.New(out)
			}
			return nil
		})
	})

	t.Run("deleting the pod releases its IP and namespace", func(t *testing.T) {
		uid := string(pod.UID)
		netns := filepath.Join("/run/skiff/netns", a.node, a.node+"-"+uid)
		if _, err := os.Stat(netns); err != nil {
			t.Fatalf("the pod's netns file is not where expected: %v", err)
		}
		ipFile := filepath.Join(a.dir, "cni", "ipam")
		mustCLI(t, admin, "", "delete", "pod", "echo")
		waitFor(t, "pod gone", 30*time.Second, func() error {
			if _, err := getPod(t, admin, "echo"); err == nil {
				return errors.New("still there")
			}
			return nil
		})
		if _, err := os.Stat(netns); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("netns file left: %v", err)
		}
		matches, _ := filepath.Glob(filepath.Join(ipFile, "*", pod.Status.PodIP))
		if len(matches) > 0 {
			t.Fatalf("IP allocation left: %v", matches)
		}
		if _, err := httpGet(base + "/healthz"); err == nil {
			t.Fatal("the deleted pod still answers")
		}
	})
}

// startRegistry runs Debian's docker-registry on loopback with its storage
// in a temp dir, and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	return startRegistryWith(t, "")
}

// Credentials of the password-protected registry: a bcrypt hash of
// registryPassword, made once with crypt(3).
const (
	registryUser     = "puller"
	registryPassword = "pull-secret-pw"
	registryHash     = "$2b$12$r5kLILr00pckMu6YixlHpubN/kk68BGGlyf5P/FLpsIbikZ9kyQIe"
)

// startRegistryWith runs the registry; with a realm, it wants registryUser's
// password (htpasswd).
func startRegistryWith(t *testing.T, realm string) string {
	t.Helper()
	if _, err := exec.LookPath("docker-registry"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-registry is missing (apt-get install docker-registry skopeo)")
		}
		t.Skip("docker-registry is missing (apt-get install docker-registry skopeo)")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if realm != "" {
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(registryUser+":"+registryHash+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: %s\n    path: %s\n", realm, filepath.Join(dir, "htpasswd"))
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", filepath.Join(dir, "config.yml"))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "registry up", 10*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	return addr
}

// removeCgroups removes the (empty) cgroups containerd made for a
// namespace; it leaves them when the containers are gone.
func removeCgroups(t *testing.T, namespace string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", namespace))
	if d := filepath.Join("/sys/fs/cgroup", namespace); fileExists(d) {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		var all []string
		filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				all = append(all, p)
			}
			// A process still in the namespace's cgroups outlived its
			// container's shim: report it and end it.
			if err == nil && info.Name() == "cgroup.procs" {
				raw, _ := os.ReadFile(p)
				for _, pid := range strings.Fields(string(raw)) {
					t.Logf("process %s left in %s: killing it", pid, filepath.Dir(p))
					if n, err := strconvAtoi(pid); err == nil {
						syscall.Kill(n, syscall.SIGKILL)
					}
				}
			}
			return nil
		})
		time.Sleep(100 * time.Millisecond)
		for i := len(all) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(all[i]); err != nil {
				t.Logf("cgroup %s left: %v", all[i], err)
			}
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// removeAgentLeftovers makes sure nothing of a test's agent stays on the
// host: containers still running in its containerd namespace (reported:
// there should be none), its containerd when still running, the pod
// network namespaces, its bridge and its cgroups.
func removeAgentLeftovers(t *testing.T, a *agentProc, sock string) {
	ns := "skiff-" + a.node
	if fileExists(sock) {
		out, _ := exec.Command("ctr", "-a", sock, "-n", ns, "tasks", "ls", "-q").Output()
		if left := strings.Fields(string(out)); len(left) > 0 {
			t.Logf("containers left in %s after the test: %v (removing them)", ns, left)
			for _, id := range left {
				exec.Command("ctr", "-a", sock, "-n", ns, "tasks", "kill", "-s", "KILL", id).Run()
			}
			time.Sleep(500 * time.Millisecond)
			for _, id := range left {
				exec.Command("ctr", "-a", sock, "-n", ns, "tasks", "rm", "-f", id).Run()
			}
		}
	}
	if pid, err := os.ReadFile(filepath.Join(a.dir, "containerd", "containerd.pid")); err == nil {
		if p, err := strconvAtoi(strings.TrimSpace(string(pid))); err == nil && syscall.Kill(p, 0) == nil {
			syscall.Kill(p, syscall.SIGTERM)
			time.Sleep(time.Second)
		}
	}
	// A containerd of the agent's that outlived it (the agent was killed
	// and started again, and the pid file names only the newest).
	if out, _ := exec.Command("pgrep", "-f", "containerd --config "+filepath.Join(a.dir, "containerd")).Output(); len(strings.TrimSpace(string(out))) > 0 {
		exec.Command("pkill", "-f", "containerd --config "+filepath.Join(a.dir, "containerd")).Run()
		time.Sleep(time.Second)
		exec.Command("pkill", "-9", "-f", "containerd --config "+filepath.Join(a.dir, "containerd")).Run()
	}
	// A shim whose containerd went away keeps running: name it, stop it.
	pattern := "containerd-shim-runc-v2 -namespace " + ns + " "
	if out, _ := exec.Command("pgrep", "-f", pattern).Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Logf("shims of %s left after the agent stopped (pids %s): stopping them", ns, strings.Fields(string(out)))
		exec.Command("pkill", "-9", "-f", pattern).Run()
		time.Sleep(200 * time.Millisecond)
	}
	matches, _ := filepath.Glob(filepath.Join("/run/skiff/netns", a.node, "*"))
	for _, f := range matches {
		syscall.Unmount(f, syscall.MNT_DETACH)
		os.Remove(f)
	}
	os.Remove(filepath.Join("/run/skiff/netns", a.node))
	exec.Command("ip", "link", "del", a.bridge).Run()
	exec.Command("nft", "delete", "table", "ip", a.proxyTable()).Run()
	removeCgroups(t, ns)
}

func strconvAtoi(s string) (int, error) {
	var n int
	_, err := fmt.Sscanf(s, "%d", &n)
	return n, err
}

// waitNoContainers waits until the node's containerd namespace holds no
// task, and says so if some are still there at the deadline.
// waitNoPods waits, at most limit, until the cluster lists no pod (clean-up
// before agents stop: they release what their pods held).
func waitNoPods(t *testing.T, admin string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if out, _, _ := cli(t, admin, "", "get", "pods", "-o", "name"); strings.TrimSpace(out) == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitNoContainers(t *testing.T, sock, ns string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		out, err := exec.Command("ctr", "-a", sock, "-n", ns, "tasks", "ls", "-q").Output()
		if err != nil || strings.TrimSpace(string(out)) == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("tasks still in %s after %s: %s", ns, limit, strings.Fields(string(out)))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
