package agent

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/agent/podnet"
	"github.com/skiffhq/skiff/agent/probe"
	"github.com/skiffhq/skiff/agent/runtime"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, os.ErrNotExist)
}

func (h *harness) hasWorker(uid types.UID) bool {
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	_, ok := h.a.workers[uid]
	return ok
}

// runningPod starts a pod of two containers (one with a preStop hook and
// a configMap volume) and waits until it runs.
func (h *harness) runningPod(name string) *corev1.Pod {
	h.t.Helper()
	h.cluster.setConfigMap("default", "cfg", map[string]string{"a": "b"})
	web := ctr("web", "web:1")
	web.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"drain"}}}}
	web.VolumeMounts = []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}}
	web.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"ready"}}}}
	pod := testPod(name, web, ctr("sidecar", "sidecar:1"))
	pod.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}
	h.a.PodUpdated(pod)
	h.waitStatus(pod.UID, name+" running and ready", func(st *corev1.PodStatus) bool {
		return runningID(st, "web") != "" && runningID(st, "sidecar") != "" && condition(*st, corev1.PodReady) == corev1.ConditionTrue
	})
	return pod
}

func TestGracefulDeletion(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var hooks []string // "id cmd stopped-already"
	h.rt.ExecFunc = func(id string, cmd []string, _, _ io.Writer) int {
		stopped := slices.Contains(h.rt.stoppedIDs(), id)
		mu.Lock()
		defer mu.Unlock()
		hooks = append(hooks, id+" "+strings.Join(cmd, " ")+" "+map[bool]string{true: "after-stop", false: "before-stop"}[stopped])
		return 0
	}
	h.start()
	pod := h.runningPod("del")
	other := h.runningPod("other")
	web, sidecar := cid(pod.UID, "web", 0), cid(pod.UID, "sidecar", 0)
	podDir := filepath.Join(h.dataDir, "pods", string(pod.UID))
	logDir := filepath.Join(h.dataDir, "logs", "default_del_"+string(pod.UID))
	if !exists(filepath.Join(podDir, "sandbox.json")) || !exists(filepath.Join(podDir, "volumes", "configmap", "cfg", "a")) {
		t.Fatalf("the pod's directory lacks its sandbox or volume")
	}

	del := h.cluster.lastStatus(pod.UID)
	now := metav1.NewTime(h.clk.Now())
	grace := int64(5)
	del.DeletionTimestamp, del.DeletionGracePeriodSeconds = &now, &grace
	if err := os.MkdirAll(logDir, 0o755); err != nil { // as the runtime's logger would
		t.Fatal(err)
	}
	h.a.PodUpdated(del)
	waitFor(t, "DeletePod", func() bool { return len(h.cluster.deleteCalls()) > 0 }, nil)
	// The containers' exits may wake the worker once more; a repeated
	// (idempotent) DeletePod is fine, another pod's is not.
	for _, d := range h.cluster.deleteCalls() {
		if d != (deleteCall{"default", "del", pod.UID}) {
			t.Errorf("DeletePod %+v", d)
		}
	}
	stopped := h.rt.stoppedIDs()
	slices.Sort(stopped)
	if want := []string{sidecar, web}; !slices.Equal(stopped, want) {
		t.Errorf("stopped %v, want %v", stopped, want)
	}
	for _, id := range []string{web, sidecar} {
		if g, _ := h.rt.grace(id); g != 5*time.Second {
			t.Errorf("%s stopped with grace %s, want the deletion's 5s", id, g)
		}
	}
	mu.Lock()
	if want := []string{web + " drain before-stop"}; !slices.Equal(hooks, want) {
		t.Errorf("hooks %q, want %q", hooks, want)
	}
	mu.Unlock()
	if ids := h.rt.ids(t, pod.UID); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
	for _, att := range h.net.Attachments() {
		if att.ID == testNode+"-"+string(pod.UID) {
			t.Errorf("network attachment left: %+v", att)
		}
	}
	if exists(podDir) || exists(logDir) {
		t.Errorf("pod directory (%v) or logs (%v) left", exists(podDir), exists(logDir))
	}
	if ev := h.cluster.eventsOf(pod.UID); !slices.Contains(ev, "Killing: Stopping container web") || !slices.Contains(ev, "Killing: Stopping container sidecar") {
		t.Errorf("events %q", ev)
	}
	waitFor(t, "the worker to end", func() bool { return !h.hasWorker(pod.UID) }, nil)

	// The other pod is untouched.
	if ids := h.rt.ids(t, other.UID); len(ids) != 2 || h.rt.state(t, ids[0]).State != "running" || h.rt.state(t, ids[1]).State != "running" {
		t.Errorf("the other pod's containers: %v", ids)
	}
	if atts := h.net.Attachments(); len(atts) != 1 || atts[0].ID != testNode+"-"+string(other.UID) {
		t.Errorf("attachments %+v", atts)
	}
}

func TestPodGoneFromAPI(t *testing.T) {
	h := newHarness(t)
	h.start()
	pod := h.runningPod("gone")
	podDir := filepath.Join(h.dataDir, "pods", string(pod.UID))
	h.a.PodDeleted(pod)
	waitFor(t, "the containers removed", func() bool { return len(h.rt.ids(t, pod.UID)) == 0 }, nil)
	waitFor(t, "the worker to end", func() bool { return !h.hasWorker(pod.UID) }, nil)
	stopped := h.rt.stoppedIDs()
	slices.Sort(stopped)
	if want := []string{cid(pod.UID, "sidecar", 0), cid(pod.UID, "web", 0)}; !slices.Equal(stopped, want) {
		t.Errorf("stopped %v, want %v", stopped, want)
	}
	if atts := h.net.Attachments(); len(atts) != 0 {
		t.Errorf("attachments left: %+v", atts)
	}
	if exists(podDir) {
		t.Errorf("pod directory left")
	}
	if got := h.cluster.deleteCalls(); len(got) != 0 {
		t.Errorf("DeletePod called for a pod the API no longer has: %+v", got)
	}
}

func TestAdoptAfterRestart(t *testing.T) {
	h := newHarness(t)
	h.start()
	pod := h.runningPod("adopt") // web has a readiness probe
	plain := testPod("plain", ctr("app", "app:1"))
	h.a.PodUpdated(plain)
	h.waitStatus(plain.UID, "plain running", func(st *corev1.PodStatus) bool { return runningID(st, "app") != "" })
	h.stop()
	creates, starts, lists := h.rt.callCount("CreateContainer"), h.rt.callCount("StartContainer"), h.rt.callCount("ListContainers")
	writes, plainWrites := h.cluster.statusWrites(pod.UID), h.cluster.statusWrites(plain.UID)
	if creates != 3 || starts != 3 || h.net.Setups() != 2 {
		t.Fatalf("first agent: %d creates, %d starts, %d network setups", creates, starts, h.net.Setups())
	}

	// A new agent on the same node gets the pods as the API has them.
	probes := h.prober.count(probe.Readiness)
	h.start()
	h.a.PodUpdated(h.cluster.lastStatus(plain.UID))
	h.a.PodUpdated(h.cluster.lastStatus(pod.UID))
	waitFor(t, "the new agent to sync", func() bool { return h.rt.callCount("ListContainers") >= lists+2 }, nil)
	// The adopted web container is probed again.
	waitFor(t, "web probed by the new agent", func() bool { return h.prober.count(probe.Readiness) > probes }, nil)
	time.Sleep(30 * time.Millisecond)
	if n, m := h.rt.callCount("CreateContainer"), h.rt.callCount("StartContainer"); n != creates || m != starts {
		t.Errorf("the restarted agent created %d and started %d containers", n-creates, m-starts)
	}
	if h.net.Setups() != 2 {
		t.Errorf("the restarted agent set the network up again")
	}
	if n := h.cluster.statusWrites(plain.UID); n != plainWrites {
		t.Errorf("the restarted agent changed the status: %s", dump(h.cluster.lastStatus(plain.UID).Status))
	}
	// Whatever it wrote (readiness starts over with the new agent's
	// probes), the pod kept running without a restart.
	for _, st := range h.cluster.statusesOf(pod.UID)[writes:] {
		for _, name := range []string{"web", "sidecar"} {
			cs := cstatus(t, st, name)
			if cs.ContainerID != "containerd://"+cid(pod.UID, name, 0) || cs.RestartCount != 0 || cs.State.Running == nil {
				t.Errorf("adopted %s: %s", name, dump(cs))
			}
		}
		if st.Phase != corev1.PodRunning || st.PodIP != "10.42.0.2" {
			t.Errorf("phase %s, podIP %s", st.Phase, st.PodIP)
		}
	}
	waitFor(t, "the adopted pod ready", func() bool {
		return condition(h.cluster.lastStatus(pod.UID).Status, corev1.PodReady) == corev1.ConditionTrue
	}, func() string { return dump(h.cluster.lastStatus(pod.UID).Status) })

	// Given a stale copy (an older status), it writes the same running status.
	h.a.PodUpdated(plain)
	st := h.waitStatus(plain.UID, "a new write", func(*corev1.PodStatus) bool { return h.cluster.statusWrites(plain.UID) > plainWrites })
	if cs := cstatus(t, st, "app"); cs.ContainerID != "containerd://"+cid(plain.UID, "app", 0) || cs.RestartCount != 0 || cs.State.Running == nil || !cs.Ready {
		t.Errorf("adopted app: %s", dump(cs))
	}
	if st.Phase != corev1.PodRunning || st.PodIP != "10.42.0.3" || condition(st, corev1.PodReady) != corev1.ConditionTrue {
		t.Errorf("phase %s, podIP %s, Ready %s", st.Phase, st.PodIP, condition(st, corev1.PodReady))
	}

	// It follows the adopted containers: a crash is restarted.
	h.rt.Exit(cid(pod.UID, "web", 0), 1, false)
	h.waitStatus(pod.UID, "web attempt 1", func(st *corev1.PodStatus) bool {
		return runningID(st, "web") == "containerd://"+cid(pod.UID, "web", 1)
	})
}

// An agent that died between creating and starting a container leaves it
// created: the next one replaces it under the same attempt.
func TestAdoptCreatedContainer(t *testing.T) {
	h := newHarness(t)
	pod := testPod("created", ctr("app", "app:1"))
	h.rt.AddImage(runtime.Image{Ref: "app:1"})
	id := cid(pod.UID, "app", 0)
	if err := h.rt.Fake.CreateContainer(context.Background(), &runtime.ContainerSpec{ID: id, Image: "app:1", Labels: map[string]string{
		labelPodUID: string(pod.UID), labelPodName: pod.Name, labelPodNamespace: pod.Namespace,
		labelContainer: "app", labelAttempt: "0", labelInit: "false", labelSpecImage: "app:1"}}); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.a.PodUpdated(pod)
	st := h.waitStatus(pod.UID, "Running", func(st *corev1.PodStatus) bool { return st.Phase == corev1.PodRunning })
	if cs := cstatus(t, st, "app"); cs.ContainerID != "containerd://"+id || cs.RestartCount != 0 || cs.State.Running == nil {
		t.Errorf("status %s", dump(cs))
	}
	if ids := h.rt.ids(t, pod.UID); !slices.Equal(ids, []string{id}) {
		t.Errorf("containers %v", ids)
	}
	if got := h.rt.created(); !slices.Equal(got, []string{id}) {
		t.Errorf("created %v", got)
	}
}

func TestCleanUpLeftovers(t *testing.T) {
	h := newHarness(t)
	h.start()
	gone := h.runningPod("gone")
	kept := h.runningPod("kept")
	h.stop()
	// A network attachment and a pod directory without containers, left
	// by a run that died before starting any.
	ghost := types.UID("uid-ghost")
	if _, err := h.net.Setup(context.Background(), testNode+"-"+string(ghost), podnet.SetupOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(h.dataDir, "pods", string(ghost)), 0o755); err != nil {
		t.Fatal(err)
	}
	goneLogs := filepath.Join(h.dataDir, "logs", "default_gone_"+string(gone.UID))
	if err := os.MkdirAll(goneLogs, 0o755); err != nil {
		t.Fatal(err)
	}
	creates := h.rt.callCount("CreateContainer")

	// The restarted agent learns only of the kept pod.
	a := h.newAgent()
	a.PodUpdated(h.cluster.lastStatus(kept.UID))
	if err := a.CleanUpLeftovers(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := h.rt.stoppedIDs()
	slices.Sort(stopped)
	if want := []string{cid(gone.UID, "sidecar", 0), cid(gone.UID, "web", 0)}; !slices.Equal(stopped, want) {
		t.Errorf("stopped %v, want %v", stopped, want)
	}
	if ids := h.rt.ids(t, gone.UID); len(ids) != 0 {
		t.Errorf("containers of the gone pod left: %v", ids)
	}
	if ids := h.rt.ids(t, kept.UID); len(ids) != 2 {
		t.Errorf("containers of the kept pod: %v", ids)
	}
	if atts := h.net.Attachments(); len(atts) != 1 || atts[0].ID != testNode+"-"+string(kept.UID) {
		t.Errorf("attachments %+v, want only the kept pod's", atts)
	}
	for _, uid := range []types.UID{gone.UID, ghost} {
		if exists(filepath.Join(h.dataDir, "pods", string(uid))) {
			t.Errorf("directory of %s left", uid)
		}
	}
	if exists(goneLogs) {
		t.Errorf("logs of the gone pod left")
	}
	if !exists(filepath.Join(h.dataDir, "pods", string(kept.UID), "sandbox.json")) {
		t.Errorf("the kept pod's sandbox was removed")
	}
	if got := h.cluster.deleteCalls(); len(got) != 0 {
		t.Errorf("DeletePod called: %+v", got)
	}

	// Run then adopts the kept pod as it is.
	lists := h.rt.callCount("ListContainers")
	h.run(a)
	waitFor(t, "a sync", func() bool { return h.rt.callCount("ListContainers") > lists }, nil)
	time.Sleep(20 * time.Millisecond)
	if n := h.rt.callCount("CreateContainer"); n != creates {
		t.Errorf("%d containers created after the clean-up", n-creates)
	}
}
