package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestRolloutSurvivesLeaderKill runs three masters and three agents on the
// fake runtime (pods "run" at once; the agents are separate processes, so
// killing a master kills no node), rolls a Deployment out, and SIGKILLs the
// leader mid-rollout: the new leader's controllers finish it, with no pod
// doubled or lost.
func TestRolloutSurvivesLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts three masters")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	masters := []*master{newMaster(t), newMaster(t), newMaster(t)}
	masters[0].start("--init")
	token := strings.TrimSpace(readFile(t, filepath.Join(masters[0].dir, "token")))
	for _, m := range masters[1:] {
		m.start("--join", masters[0].api, "--token", token)
	}
	admin := filepath.Join(masters[0].dir, "admin.conf")
	worker := strings.TrimSpace(readFile(t, filepath.Join(masters[0].dir, "worker-token")))
	for i := 0; i < 3; i++ {
		a := &agentProc{t: t, dir: t.TempDir(), addr: freeAddr(t), node: fmt.Sprintf("fake-%d-%s", i, randHex(2)),
			args: []string{"--runtime", "fake", "--join", masters[i].api, "--token", worker}}
		a.start()
		t.Cleanup(func() {
			a.signal(syscall.SIGTERM)
			if t.Failed() {
				t.Logf("agent %s:\n%s", a.node, a.logs())
			}
		})
	}
	waitFor(t, "three masters and three Ready nodes", 30*time.Second, func() error {
		out, _, _ := cli(t, admin, "", "get", "nodes")
		members, _, _ := cli(t, admin, "", "cluster", "members")
		if strings.Count(out, " Ready ") != 3 || strings.Count(members, " yes") != 3 {
			return fmt.Errorf("%s%s", out, members)
		}
		return nil
	})
	deploy := func(image string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 12
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 2, maxUnavailable: 1}}
  minReadySeconds: 1
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: web, image: %s}]
`, image)
	}
	rolloutStatus := func(cfg string) error {
		cmd := exec.CommandContext(ctx, skiffBin, "rollout", "status", "deployment/web", "--timeout", "90s")
		cmd.Env = append(os.Environ(), "SKIFF_CONFIG="+cfg)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	mustCLI(t, admin, deploy("example.test/web:1"), "apply", "-f", "-")
	if err := rolloutStatus(admin); err != nil {
		t.Fatalf("first rollout: %v", err)
	}
	mustCLI(t, admin, deploy("example.test/web:2"), "apply", "-f", "-")
	// Mid-rollout: some new pods exist, not all.
	waitFor(t, "the rollout under way", 30*time.Second, func() error {
		n := countPods(t, admin, "example.test/web:2")
		if n == 0 || n >= 12 {
			return fmt.Errorf("%d new pods", n)
		}
		return nil
	})
	members, err := masters[0].client(t).Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var leader *master
	var survivor *master
	for _, mem := range members {
		for _, m := range masters {
			if m.api == mem.APIAddress {
				if mem.Leader {
					leader = m
				} else {
					survivor = m
				}
			}
		}
	}
	if leader == nil || survivor == nil {
		t.Fatalf("cannot tell the leader: %+v", members)
	}
	leader.kill()
	start := time.Now()
	cfg := filepath.Join(survivor.dir, "admin.conf")
	if err := rolloutStatus(cfg); err != nil {
		t.Fatalf("the rollout did not finish under the new leader: %v", err)
	}
	t.Logf("rollout finished %.1fs after the leader was killed", time.Since(start).Seconds())
	// Exactly 12 pods, all new, none terminating left behind; the old
	// ReplicaSet at 0.
	waitFor(t, "12 pods of the new template and nothing else", 30*time.Second, func() error {
		out, _, ok := cli(t, cfg, "", "get", "pods", "-l", "app=web", "-o", "json")
		if !ok {
			return errors.New(out)
		}
		var list corev1.PodList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return err
		}
		names := map[string]bool{}
		for _, p := range list.Items {
			if p.Spec.Containers[0].Image != "example.test/web:2" || p.DeletionTimestamp != nil {
				return fmt.Errorf("pod %s: %s (deleting: %v)", p.Name, p.Spec.Containers[0].Image, p.DeletionTimestamp != nil)
			}
			names[p.Name] = true
		}
		if len(list.Items) != 12 || len(names) != 12 {
			return fmt.Errorf("%d pods", len(list.Items))
		}
		return nil
	})
	out := mustCLI(t, cfg, "", "get", "rs", "-o", "json")
	var rss appsv1.ReplicaSetList
	if err := json.Unmarshal([]byte(out), &rss); err != nil {
		t.Fatal(err)
	}
	if len(rss.Items) != 2 {
		t.Fatalf("%d ReplicaSets, want the old and the new", len(rss.Items))
	}
	for _, rs := range rss.Items {
		want := int32(0)
		if rs.Spec.Template.Spec.Containers[0].Image == "example.test/web:2" {
			want = 12
		}
		if *rs.Spec.Replicas != want {
			t.Fatalf("ReplicaSet %s (%s) has %d replicas, want %d", rs.Name, rs.Spec.Template.Spec.Containers[0].Image, *rs.Spec.Replicas, want)
		}
	}
}

func countPods(t *testing.T, cfg, image string) int {
	out, _, ok := cli(t, cfg, "", "get", "pods", "-l", "app=web", "-o", "json")
	if !ok {
		return -1
	}
	var list corev1.PodList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return -1
	}
	n := 0
	for _, p := range list.Items {
		if p.Spec.Containers[0].Image == image && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}
