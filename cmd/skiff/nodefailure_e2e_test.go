package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestNodeFailure runs two agents (the second sharing the first's
// containerd, distinct node names) under one master, spreads a Deployment
// over both, then kills one agent and its containers: its pods come back on
// the other node.
func TestNodeFailure(t *testing.T) {
	image := requireAgentPrereqs(t)
	// Registered first, so it runs last: after the agents are gone.
	hostBefore := readHostNetState()
	t.Cleanup(func() { restoreHostNetState(t, hostBefore) })
	m := newMaster(t)
	m.start("--init", "--cluster-cidr", "10.48.0.0/16", "--node-monitor-grace", "4s", "--pod-eviction-timeout", "4s")
	admin := filepath.Join(m.dir, "admin.conf")
	token := strings.TrimSpace(readFile(t, filepath.Join(m.dir, "worker-token")))
	raw, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	suffix := randHex(3)
	newAgent := func(name string, extra ...string) *agentProc {
		a := &agentProc{t: t, dir: t.TempDir(), addr: freeAddr(t), node: name + "-" + suffix, bridge: "skt" + name + suffix,
			// Heartbeats well inside the master's 4 s grace.
			args: append([]string{"--join", m.api, "--token", token, "--heartbeat-period", "1s"}, extra...)}
		if err := os.MkdirAll(filepath.Join(a.dir, "images"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a.dir, "images", "echo.tar"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		a.start()
		return a
	}
	a := newAgent("nfa")
	waitFor(t, "first agent ready", 30*time.Second, func() error {
		if !strings.Contains(a.logs(), "ready (pod CIDR") {
			return errors.New("not yet")
		}
		return nil
	})
	sock := filepath.Join(a.dir, "containerd", "containerd.sock")
	b := newAgent("nfb", "--containerd-address", sock)
	t.Cleanup(func() {
		cli(t, admin, "", "delete", "deployments", "--all")
		waitNoPods(t, admin, 30*time.Second)
		waitNoContainers(t, sock, "skiff-"+b.node, 30*time.Second)
		waitNoContainers(t, sock, "skiff-"+a.node, 30*time.Second)
		b.signal(syscall.SIGTERM)
		a.signal(syscall.SIGTERM) // started again after its failure
		removeAgentLeftovers(t, b, sock)
		removeAgentLeftovers(t, a, sock)
		if t.Failed() {
			t.Logf("agent a:\n%s\nagent b:\n%s\nmaster:\n%s", a.logs(), b.logs(), m.logs())
		}
	})
	waitFor(t, "both nodes Ready", 30*time.Second, func() error {
		out, _, _ := cli(t, admin, "", "get", "nodes")
		if strings.Count(out, " Ready ") != 2 {
			return errors.New(out)
		}
		return nil
	})
	waitFor(t, "images imported on both", 30*time.Second, func() error {
		if !strings.Contains(b.logs(), "image imported") || !strings.Contains(a.logs(), "image imported") {
			return errors.New("not yet")
		}
		return nil
	})
	mustCLI(t, admin, `apiVersion: apps/v1
kind: Deployment
metadata: {name: spread}
spec:
  replicas: 4
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: skiff.local/echo:1
        readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1, failureThreshold: 1}
`, "apply", "-f", "-")
	perNode := func() (map[string]int, error) {
		out, _, ok := cli(t, admin, "", "get", "pods", "-l", "app=spread", "-o", "json")
		if !ok {
			return nil, errors.New(out)
		}
		var list corev1.PodList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return nil, err
		}
		n := map[string]int{}
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				n[p.Spec.NodeName]++
			}
		}
		return n, nil
	}
	waitFor(t, "4 pods spread over both nodes", 60*time.Second, func() error {
		n, err := perNode()
		if err != nil {
			return err
		}
		if n[a.node] != 2 || n[b.node] != 2 {
			return fmt.Errorf("running per node: %v", n)
		}
		return nil
	})
	checkServiceAcrossNodes(t, admin)
	// Node a dies: its agent and its containers.
	a.signal(syscall.SIGKILL)
	exec.Command("sh", "-c", fmt.Sprintf("ctr -a %s -n skiff-%s tasks ls -q | xargs -r -n1 ctr -a %s -n skiff-%s tasks kill -s KILL", sock, a.node, sock, a.node)).Run()
	start := time.Now()
	waitFor(t, "the 4 pods running on the surviving node", 60*time.Second, func() error {
		n, err := perNode()
		if err != nil {
			return err
		}
		if n[b.node] != 4 {
			return fmt.Errorf("running per node: %v", n)
		}
		return nil
	})
	t.Logf("pods back on %s %.1fs after %s died", b.node, time.Since(start).Seconds(), a.node)
	if out := mustCLI(t, admin, "", "get", "nodes", a.node); !strings.Contains(out, "Unknown") && !strings.Contains(out, "NotReady") {
		t.Fatalf("the dead node is not marked:\n%s", out)
	}
	// Node a comes back; node b is drained under a disruption budget.
	a.start()
	waitFor(t, "node a Ready again", 60*time.Second, func() error {
		out, _, ok := cli(t, admin, "", "get", "nodes", a.node)
		if !ok || !regexp.MustCompile(`\sReady\s`).MatchString(out) {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	checkDrainHonoursBudget(t, admin, b.node, a.node, perNode)
}

// checkServiceAcrossNodes puts a Service in front of the spread
// Deployment (2 pods on each node) and, from inside one of its pods, reaches
// all four by the Service's name (the node's DNS, its proxy, pods on the
// other node's bridge, and the pod itself through the hairpin); then a pod
// failing readiness stops getting requests.
func checkServiceAcrossNodes(t *testing.T, admin string) {
	t.Helper()
	out := mustCLI(t, admin, "", "get", "pods", "-l", "app=spread", "-o", "json")
	var list corev1.PodList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	client := list.Items[0]
	var other corev1.Pod
	for _, p := range list.Items {
		if p.Spec.NodeName != client.Spec.NodeName {
			other = p
		}
	}
	// How soon the new name resolves on each node (from a pod there; each
	// try is an exec through the API, ~0.1-0.2 s of its own).
	created := time.Now()
	mustCLI(t, admin, "apiVersion: v1\nkind: Service\nmetadata: {name: spread}\nspec: {selector: {app: spread}, ports: [{name: http, port: 80, targetPort: 8080}]}\n", "apply", "-f", "-")
	for _, p := range []corev1.Pod{client, other} {
		waitFor(t, "the new Service resolving on node "+p.Spec.NodeName, 20*time.Second, func() error {
			out, errOut, ok := cli(t, admin, "", "exec", p.Name, "--", "nslookup", "spread.default.svc.cluster.local")
			if !ok || !strings.Contains(out, "Address") || strings.Contains(out, "NXDOMAIN") {
				return fmt.Errorf("%s%s", out, errOut)
			}
			return nil
		})
		t.Logf("the new Service resolved from a pod on %s %s after its creation", p.Spec.NodeName, time.Since(created).Round(10*time.Millisecond))
	}
	answers := func() (map[string]int, error) {
		out, errOut, ok := cli(t, admin, "", "exec", client.Name, "--", "sh", "-c",
			"for i in $(seq 40); do wget -qO- http://spread/ | grep '^hostname: '; done")
		if !ok {
			return nil, fmt.Errorf("%s%s", out, errOut)
		}
		seen := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			seen[strings.TrimPrefix(l, "hostname: ")]++
		}
		return seen, nil
	}
	waitFor(t, "40 requests by name from a pod reaching the 4 pods on both nodes", 60*time.Second, func() error {
		seen, err := answers()
		if err != nil {
			return err
		}
		if len(seen) != 4 {
			return fmt.Errorf("answers by hostname: %v", seen)
		}
		return nil
	})
	// A pod on the other node fails its readiness probe (period 1 s).
	mustCLI(t, admin, "", "exec", client.Name, "--", "wget", "-qO-", "--post-data=", "http://"+other.Status.PodIP+":8080/readyz/fail")
	start := time.Now()
	waitFor(t, "the unready pod getting no more requests", 30*time.Second, func() error {
		seen, err := answers()
		if err != nil {
			return err
		}
		if seen[other.Name] > 0 || len(seen) != 3 {
			return fmt.Errorf("answers by hostname: %v", seen)
		}
		return nil
	})
	t.Logf("a pod failing readiness (period 1 s) stopped getting requests within %s (including one round of 40 requests)", time.Since(start).Round(100*time.Millisecond))
	mustCLI(t, admin, "", "exec", client.Name, "--", "wget", "-qO-", "--post-data=", "http://"+other.Status.PodIP+":8080/readyz/ok")
	mustCLI(t, admin, "", "delete", "svc", "spread")
}

// checkDrainHonoursBudget drains node `from` under a PodDisruptionBudget
// of minAvailable 3 over the 4 spread pods: drain evicts a pod, waits until
// its replacement on node `to` is ready, then evicts the next.
func checkDrainHonoursBudget(t *testing.T, admin, from, to string, perNode func() (map[string]int, error)) {
	t.Helper()
	// Unready pods may always be evicted: start from 4 ready ones.
	waitFor(t, "the 4 pods ready before the drain", 60*time.Second, func() error {
		out := mustCLI(t, admin, "", "get", "pods", "-l", "app=spread", "-o", "json")
		var list corev1.PodList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return err
		}
		ready := 0
		for _, p := range list.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
					ready++
				}
			}
		}
		if ready != 4 {
			return fmt.Errorf("%d ready", ready)
		}
		return nil
	})
	mustCLI(t, admin, "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: spread}\nspec: {minAvailable: 3, selector: {matchLabels: {app: spread}}}\n", "apply", "-f", "-")
	out, errOut, ok := cli(t, admin, "", "drain", from, "--timeout", "120s")
	if !ok || !strings.Contains(out, "node/"+from+" drained") {
		t.Fatalf("drain under a budget: ok %v\n%s%s", ok, out, errOut)
	}
	t.Logf("drain under minAvailable 3 of 4:\n%s%s", out, errOut)
	if !strings.Contains(errOut, "waiting to evict") {
		t.Errorf("drain never waited for the budget:\n%s%s", out, errOut)
	}
	waitFor(t, "the 4 pods running on the other node after the drain", 60*time.Second, func() error {
		n, err := perNode()
		if err != nil {
			return err
		}
		if n[to] != 4 {
			return fmt.Errorf("running per node: %v", n)
		}
		return nil
	})
	// 4 healthy, 3 kept: one disruption allowed, in the budget's status.
	waitFor(t, "the budget's status", 20*time.Second, func() error {
		if out := mustCLI(t, admin, "", "get", "pdb", "spread"); !regexp.MustCompile(`(?m)^spread\s+3\s+N/A\s+1\s`).MatchString(out) {
			return fmt.Errorf("get pdb:\n%s", out)
		}
		return nil
	})
	// Bad input: a budget that selects nothing says so, and blocks nothing.
	mustCLI(t, admin, "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: typo}\nspec: {minAvailable: 1, selector: {matchLabels: {app: sprad}}}\n", "apply", "-f", "-")
	waitFor(t, "the empty budget's condition and event", 20*time.Second, func() error {
		out := mustCLI(t, admin, "", "get", "pdb", "typo", "-o", "yaml")
		d := mustCLI(t, admin, "", "describe", "pdb", "typo")
		if !strings.Contains(out, "reason: InsufficientPods") || !strings.Contains(out, "the selector matches no pod") || !strings.Contains(d, "No matching pods found") {
			return fmt.Errorf("%s\n%s", out, d)
		}
		return nil
	})
	mustCLI(t, admin, "", "delete", "pdb", "spread", "typo")
	mustCLI(t, admin, "", "uncordon", from)
}
