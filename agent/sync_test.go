package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/agent/probe"
	"github.com/skiffhq/skiff/agent/runtime"
	corev1 "k8s.io/api/core/v1"
)

func TestPodRuns(t *testing.T) {
	h := newHarness(t)
	h.start()
	pod := testPod("web", ctr("app", "nginx:1.27"))
	h.a.PodUpdated(pod)

	st := h.waitStatus(pod.UID, "Running", func(st *corev1.PodStatus) bool { return st.Phase == corev1.PodRunning })
	if st.PodIP != "10.42.0.2" || len(st.PodIPs) != 1 || st.PodIPs[0].IP != "10.42.0.2" {
		t.Errorf("podIP %q, podIPs %v; want the fake network's first address 10.42.0.2", st.PodIP, st.PodIPs)
	}
	if st.HostIP != "192.168.1.10" || st.StartTime == nil {
		t.Errorf("hostIP %q, startTime %v", st.HostIP, st.StartTime)
	}
	for _, c := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		if got := condition(st, c); got != corev1.ConditionTrue {
			t.Errorf("condition %s = %q, want True", c, got)
		}
	}
	cs := cstatus(t, st, "app")
	want := "containerd://uid-web-app-0"
	if cs.ContainerID != want || !cs.Ready || cs.RestartCount != 0 || cs.State.Running == nil || cs.Started == nil || !*cs.Started {
		t.Errorf("container status %s; want running, ready, started, %s, restartCount 0", dump(cs), want)
	}
	if cs.Image != "nginx:1.27" || cs.ImageID != "nginx:1.27" {
		t.Errorf("image %q, imageID %q", cs.Image, cs.ImageID)
	}
	if atts := h.net.Attachments(); len(atts) != 1 || atts[0].ID != testNode+"-uid-web" {
		t.Errorf("network attachments %v, want one for %s-uid-web", atts, testNode)
	}
	spec := h.rt.spec(t, "uid-web-app-0")
	if spec.NetNSPath != "/fake/netns/"+testNode+"-uid-web" || spec.Hostname != "web" {
		t.Errorf("netns %q, hostname %q", spec.NetNSPath, spec.Hostname)
	}
	// /etc/hosts, /etc/hostname and /etc/resolv.conf come from the pod's directory.
	mounts := map[string]string{}
	for _, m := range spec.Mounts {
		mounts[m.ContainerPath] = m.HostPath
	}
	for path, want := range map[string]string{
		"/etc/resolv.conf": "nameserver 10.43.0.10\n",
		"/etc/hostname":    "web\n",
	} {
		raw, err := os.ReadFile(mounts[path])
		if err != nil || string(raw) != want {
			t.Errorf("%s (%s): %q, %v; want %q", path, mounts[path], raw, err, want)
		}
	}
	if raw, _ := os.ReadFile(mounts["/etc/hosts"]); !strings.Contains(string(raw), "10.42.0.2\tweb\n") {
		t.Errorf("/etc/hosts does not name the pod:\n%s", raw)
	}
	if ev := h.cluster.eventsOf(pod.UID); !slices.Contains(ev, "Started: Started container app") {
		t.Errorf("events %q: no Started", ev)
	}

	// Another sync with nothing new writes nothing.
	writes := h.cluster.statusWrites(pod.UID)
	h.kick(pod)
	time.Sleep(20 * time.Millisecond)
	if n := h.cluster.statusWrites(pod.UID); n != writes {
		t.Errorf("a sync without change wrote the status again (%d writes, then %d)", writes, n)
	}
	if n := h.rt.callCount("CreateContainer"); n != 1 {
		t.Errorf("%d CreateContainer calls, want 1", n)
	}
}

func TestEnvAndVolumes(t *testing.T) {
	h := newHarness(t)
	h.cluster.setConfigMap("default", "settings", map[string]string{"K": "V", "app.conf": "color=blue\n"})
	h.cluster.setSecret("default", "creds", map[string][]byte{"PASSWORD": []byte("hunter2")})
	h.start()
	c := ctr("app", "app:1")
	c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}
	c.Env = []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "PASSWORD"}}}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}}
	pod := testPod("envvol", c)
	pod.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Items: []corev1.KeyToPath{{Key: "app.conf", Path: "app.conf"}}}}}}
	h.a.PodUpdated(pod)
	h.waitStatus(pod.UID, "Running", func(st *corev1.PodStatus) bool { return runningID(st, "app") != "" })

	spec := h.rt.spec(t, "uid-envvol-app-0")
	for _, kv := range []string{"K=V", "PW=hunter2"} {
		if !slices.Contains(spec.Env, kv) {
			t.Errorf("env %q lacks %s", spec.Env, kv)
		}
	}
	host := ""
	for _, m := range spec.Mounts {
		if m.ContainerPath == "/etc/app" {
			host = m.HostPath
		}
	}
	if host == "" {
		t.Fatalf("no mount at /etc/app: %+v", spec.Mounts)
	}
	if !strings.HasPrefix(host, filepath.Join(h.dataDir, "pods", "uid-envvol")) {
		t.Errorf("volume at %s, not in the pod's directory", host)
	}
	file := filepath.Join(host, "app.conf")
	if raw, err := os.ReadFile(file); err != nil || string(raw) != "color=blue\n" {
		t.Fatalf("projected file: %q, %v", raw, err)
	}
	if _, err := os.Stat(filepath.Join(host, "K")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key K projected although items names only app.conf (%v)", err)
	}

	// The ConfigMap changes: the next sync rewrites the file where the
	// container has it, without restarting anything.
	h.cluster.setConfigMap("default", "settings", map[string]string{"K": "V", "app.conf": "color=red\n"})
	h.kick(pod)
	waitFor(t, "the projected file to change", func() bool {
		raw, _ := os.ReadFile(file)
		return string(raw) == "color=red\n"
	}, func() string { raw, err := os.ReadFile(file); return string(raw) + " " + errString(err) })
	if n := h.rt.callCount("CreateContainer"); n != 1 {
		t.Errorf("%d CreateContainer calls after a ConfigMap change, want 1", n)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestMissingConfigMap(t *testing.T) {
	h := newHarness(t)
	h.start()
	c := ctr("app", "app:1")
	c.Env = []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "later"}, Key: "K"}}}}
	pod := testPod("missing", c)
	h.a.PodUpdated(pod)
	st := h.waitStatus(pod.UID, "CreateContainerConfigError", func(st *corev1.PodStatus) bool {
		return waitingReason(st, "app") == reasonConfigError
	})
	if msg := cstatus(t, st, "app").State.Waiting.Message; msg != `configmap "later" not found` {
		t.Errorf("waiting message %q", msg)
	}
	if st.Phase != corev1.PodPending || condition(st, corev1.PodReady) != corev1.ConditionFalse {
		t.Errorf("phase %s, Ready %s; want Pending, False", st.Phase, condition(st, corev1.PodReady))
	}
	if n := h.rt.callCount("CreateContainer"); n != 0 {
		t.Errorf("%d containers created without their environment", n)
	}

	h.cluster.setConfigMap("default", "later", map[string]string{"K": "V"})
	h.kick(pod)
	st = h.waitStatus(pod.UID, "Running", func(st *corev1.PodStatus) bool { return st.Phase == corev1.PodRunning })
	if cs := cstatus(t, st, "app"); cs.ContainerID != "containerd://uid-missing-app-0" || cs.RestartCount != 0 {
		t.Errorf("status %s", dump(cs))
	}
	if env := h.rt.spec(t, "uid-missing-app-0").Env; !slices.Contains(env, "K=V") {
		t.Errorf("env %q", env)
	}
}

func TestMissingConfigMapVolume(t *testing.T) {
	h := newHarness(t)
	h.start()
	c := ctr("app", "app:1")
	c.VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}}
	pod := testPod("missingvol", c)
	pod.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "later"}}}}}
	h.a.PodUpdated(pod)
	st := h.waitStatus(pod.UID, "CreateContainerConfigError", func(st *corev1.PodStatus) bool {
		return waitingReason(st, "app") == reasonConfigError
	})
	if msg := cstatus(t, st, "app").State.Waiting.Message; !strings.Contains(msg, `configmap "later" not found`) {
		t.Errorf("waiting message %q does not name the configmap", msg)
	}
	if ev := h.cluster.eventsOf(pod.UID); !slices.ContainsFunc(ev, func(e string) bool { return strings.HasPrefix(e, "FailedMount: ") }) {
		t.Errorf("events %q: no FailedMount", ev)
	}
	h.cluster.setConfigMap("default", "later", map[string]string{"K": "V"})
	h.kick(pod)
	h.waitStatus(pod.UID, "Running", func(st *corev1.PodStatus) bool { return st.Phase == corev1.PodRunning })
}

func TestCrashLoop(t *testing.T) {
	h := newHarness(t)
	h.start()
	pod := testPod("crash", ctr("app", "app:1"))
	h.a.PodUpdated(pod)
	id0, id1, id2 := cid(pod.UID, "app", 0), cid(pod.UID, "app", 1), cid(pod.UID, "app", 2)
	h.waitStatus(pod.UID, "attempt 0 running", func(st *corev1.PodStatus) bool { return runningID(st, "app") == "containerd://"+id0 })

	// The first crash restarts at once.
	h.rt.Exit(id0, 1, false)
	st := h.waitStatus(pod.UID, "attempt 1 running", func(st *corev1.PodStatus) bool { return runningID(st, "app") == "containerd://"+id1 })
	cs := cstatus(t, st, "app")
	if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil {
		t.Fatalf("after the first crash: %s", dump(cs))
	}
	if lt := cs.LastTerminationState.Terminated; lt.ExitCode != 1 || lt.Reason != "Error" || lt.ContainerID != "containerd://"+id0 {
		t.Errorf("lastState.terminated %s", dump(lt))
	}
	if st.Phase != corev1.PodRunning {
		t.Errorf("phase %s", st.Phase)
	}

	// The second waits 10 s.
	waits := h.clk.afterCount(backoffInitial)
	h.rt.Exit(id1, 1, false)
	st = h.waitStatus(pod.UID, "CrashLoopBackOff", func(st *corev1.PodStatus) bool { return waitingReason(st, "app") == reasonCrashLoop })
	cs = cstatus(t, st, "app")
	wantMsg := "back-off 10s restarting failed container=app pod=crash_default(uid-crash)"
	if cs.State.Waiting.Message != wantMsg {
		t.Errorf("waiting message %q, want %q", cs.State.Waiting.Message, wantMsg)
	}
	if cs.RestartCount != 1 || cs.ContainerID != "containerd://"+id1 || cs.Ready {
		t.Errorf("crash-looping status %s", dump(cs))
	}
	if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 1 || lt.Reason != "Error" || lt.ContainerID != "containerd://"+id1 {
		t.Errorf("lastState.terminated %s", dump(lt))
	}
	if st.Phase != corev1.PodRunning || condition(st, corev1.PodReady) != corev1.ConditionFalse {
		t.Errorf("phase %s, Ready %s; want Running, False", st.Phase, condition(st, corev1.PodReady))
	}
	if n := h.rt.callCount("CreateContainer"); n != 2 {
		t.Fatalf("%d containers created before the back-off ended, want 2", n)
	}

	// The worker waits for the back-off; not a second less.
	waitFor(t, "the worker to wait 10s", func() bool { return h.clk.afterCount(backoffInitial) > waits }, nil)
	h.clk.Step(backoffInitial - time.Second)
	h.kick(pod)
	time.Sleep(20 * time.Millisecond)
	if n := h.rt.callCount("CreateContainer"); n != 2 {
		t.Fatalf("restarted %s into a 10s back-off", backoffInitial-time.Second)
	}
	h.clk.Step(time.Second)
	st = h.waitStatus(pod.UID, "attempt 2 running", func(st *corev1.PodStatus) bool { return runningID(st, "app") == "containerd://"+id2 })
	cs = cstatus(t, st, "app")
	if cs.RestartCount != 2 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ContainerID != "containerd://"+id1 ||
		cs.LastTerminationState.Terminated.ExitCode != 1 || cs.LastTerminationState.Terminated.Reason != "Error" {
		t.Errorf("after the back-off: %s", dump(cs))
	}
	// The last two attempts stay (logs --previous); older ones go.
	waitFor(t, "attempt 0 removed", func() bool { return slices.Equal(h.rt.ids(t, pod.UID), []string{id1, id2}) },
		func() string { return strings.Join(h.rt.ids(t, pod.UID), " ") })

	// The next crash (out of memory) doubles the wait.
	h.rt.Exit(id2, 137, true)
	st = h.waitStatus(pod.UID, "CrashLoopBackOff 20s", func(st *corev1.PodStatus) bool {
		return waitingReason(st, "app") == reasonCrashLoop && cstatus(t, *st, "app").RestartCount == 2
	})
	cs = cstatus(t, st, "app")
	if !strings.HasPrefix(cs.State.Waiting.Message, "back-off 20s ") {
		t.Errorf("third crash: %q", cs.State.Waiting.Message)
	}
	if lt := cs.LastTerminationState.Terminated; lt == nil || lt.Reason != "OOMKilled" || lt.ExitCode != 137 {
		t.Errorf("lastState.terminated after an OOM kill: %s", dump(lt))
	}
}

func TestImageChange(t *testing.T) {
	h := newHarness(t)
	h.start()
	pod := testPod("upgrade", ctr("app", "app:1"))
	h.a.PodUpdated(pod)
	h.waitStatus(pod.UID, "running", func(st *corev1.PodStatus) bool { return runningID(st, "app") != "" })
	upd := h.cluster.lastStatus(pod.UID)
	upd.Spec.Containers[0].Image = "app:2"
	upd.ResourceVersion = "8"
	h.a.PodUpdated(upd)
	st := h.waitStatus(pod.UID, "attempt 1", func(st *corev1.PodStatus) bool {
		return runningID(st, "app") == "containerd://"+cid(pod.UID, "app", 1)
	})
	if cs := cstatus(t, st, "app"); cs.Image != "app:2" || cs.RestartCount != 1 {
		t.Errorf("status %s", dump(cs))
	}
	if img := h.rt.spec(t, cid(pod.UID, "app", 1)).Image; img != "app:2" {
		t.Errorf("attempt 1 runs %s", img)
	}
	if ev := h.cluster.eventsOf(pod.UID); !slices.Contains(ev, "Killing: Container app definition changed, will be restarted") {
		t.Errorf("events %q", ev)
	}
}

func TestRestartPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy    corev1.RestartPolicy
		exit      int32
		phase     corev1.PodPhase
		restarted bool
		reason    string // terminated reason when not restarted
	}{
		{corev1.RestartPolicyNever, 0, corev1.PodSucceeded, false, "Completed"},
		{corev1.RestartPolicyNever, 1, corev1.PodFailed, false, "Error"},
		{corev1.RestartPolicyOnFailure, 0, corev1.PodSucceeded, false, "Completed"},
		{corev1.RestartPolicyOnFailure, 1, corev1.PodRunning, true, ""},
		{corev1.RestartPolicyAlways, 0, corev1.PodRunning, true, ""},
		{corev1.RestartPolicyAlways, 1, corev1.PodRunning, true, ""},
	} {
		t.Run(string(tc.policy)+"/"+string(rune('0'+tc.exit)), func(t *testing.T) {
			h := newHarness(t)
			h.start()
			pod := testPod("job", ctr("app", "app:1"))
			pod.Spec.RestartPolicy = tc.policy
			h.a.PodUpdated(pod)
			id0 := cid(pod.UID, "app", 0)
			h.waitStatus(pod.UID, "running", func(st *corev1.PodStatus) bool { return runningID(st, "app") != "" })
			h.rt.Exit(id0, tc.exit, false)
			if tc.restarted {
				st := h.waitStatus(pod.UID, "attempt 1", func(st *corev1.PodStatus) bool {
					return runningID(st, "app") == "containerd://"+cid(pod.UID, "app", 1)
				})
				if st.Phase != tc.phase || cstatus(t, st, "app").RestartCount != 1 {
					t.Errorf("phase %s, restartCount %d", st.Phase, cstatus(t, st, "app").RestartCount)
				}
				return
			}
			st := h.waitStatus(pod.UID, string(tc.phase), func(st *corev1.PodStatus) bool { return st.Phase == tc.phase })
			cs := cstatus(t, st, "app")
			if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != tc.exit || cs.State.Terminated.Reason != tc.reason ||
				cs.RestartCount != 0 || cs.Ready {
				t.Errorf("container status %s", dump(cs))
			}
			if condition(st, corev1.PodReady) != corev1.ConditionFalse {
				t.Errorf("a finished pod is Ready")
			}
			// The finished pod (as the informer delivers it) gives its
			// address back and never runs again.
			h.kick(pod)
			waitFor(t, "the network released", func() bool { return len(h.net.Attachments()) == 0 },
				func() string { return dump(h.net.Attachments()) })
			h.kick(pod)
			time.Sleep(20 * time.Millisecond)
			if n := h.rt.callCount("CreateContainer"); n != 1 {
				t.Errorf("%d containers created for a finished pod", n)
			}
			if p := h.cluster.lastStatus(pod.UID); p.Status.Phase != tc.phase {
				t.Errorf("phase changed to %s", p.Status.Phase)
			}
		})
	}
}

func TestInitContainers(t *testing.T) {
	h := newHarness(t)
	h.start()
	pod := testPod("init", ctr("app", "app:1"))
	pod.Spec.InitContainers = []corev1.Container{ctr("first", "tools:1"), ctr("second", "tools:1")}
	h.a.PodUpdated(pod)
	first, second, app := cid(pod.UID, "first", 0), cid(pod.UID, "second", 0), cid(pod.UID, "app", 0)

	st := h.waitStatus(pod.UID, "first init running", func(st *corev1.PodStatus) bool { return runningID(st, "first") != "" })
	if st.Phase != corev1.PodPending || condition(st, corev1.PodInitialized) != corev1.ConditionFalse {
		t.Errorf("phase %s, Initialized %s", st.Phase, condition(st, corev1.PodInitialized))
	}
	if r := waitingReason(&st, "app"); r != reasonPodInitializing {
		t.Errorf("app waiting %q, want PodInitializing", r)
	}
	if r := waitingReason(&st, "second"); r != reasonContainerCreating {
		t.Errorf("second init waiting %q", r)
	}
	if got := h.rt.created(); !slices.Equal(got, []string{first}) {
		t.Fatalf("created %v while the first init container runs", got)
	}

	h.rt.Exit(first, 0, false)
	h.waitStatus(pod.UID, "second init running", func(st *corev1.PodStatus) bool { return runningID(st, "second") != "" })
	if got := h.rt.created(); !slices.Equal(got, []string{first, second}) {
		t.Fatalf("created %v while the second init container runs", got)
	}
	h.rt.Exit(second, 0, false)
	st = h.waitStatus(pod.UID, "Running", func(st *corev1.PodStatus) bool { return st.Phase == corev1.PodRunning })
	if got := h.rt.created(); !slices.Equal(got, []string{first, second, app}) {
		t.Errorf("created %v", got)
	}
	for _, name := range []string{"first", "second"} {
		cs := cstatus(t, st, name)
		if cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" || cs.Ready || cs.RestartCount != 0 {
			t.Errorf("init %s: %s", name, dump(cs))
		}
	}
	for _, c := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		if got := condition(st, c); got != corev1.ConditionTrue {
			t.Errorf("condition %s = %q", c, got)
		}
	}
}

func TestInitContainerFails(t *testing.T) {
	t.Run("Never", func(t *testing.T) {
		h := newHarness(t)
		h.start()
		pod := testPod("initfail", ctr("app", "app:1"))
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
		pod.Spec.InitContainers = []corev1.Container{ctr("setup", "tools:1")}
		h.a.PodUpdated(pod)
		setup := cid(pod.UID, "setup", 0)
		h.waitStatus(pod.UID, "init running", func(st *corev1.PodStatus) bool { return runningID(st, "setup") != "" })
		h.rt.Exit(setup, 2, false)
		st := h.waitStatus(pod.UID, "Failed", func(st *corev1.PodStatus) bool { return st.Phase == corev1.PodFailed })
		if cs := cstatus(t, st, "setup"); cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 2 || cs.State.Terminated.Reason != "Error" {
			t.Errorf("init status %s", dump(cs))
		}
		if condition(st, corev1.PodInitialized) != corev1.ConditionFalse {
			t.Errorf("Initialized %s", condition(st, corev1.PodInitialized))
		}
		if got := h.rt.created(); !slices.Equal(got, []string{setup}) {
			t.Errorf("created %v after the init container failed", got)
		}
	})
	t.Run("OnFailure", func(t *testing.T) {
		h := newHarness(t)
		h.start()
		pod := testPod("initretry", ctr("app", "app:1"))
		pod.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		pod.Spec.InitContainers = []corev1.Container{ctr("setup", "tools:1")}
		h.a.PodUpdated(pod)
		h.waitStatus(pod.UID, "init running", func(st *corev1.PodStatus) bool { return runningID(st, "setup") != "" })
		h.rt.Exit(cid(pod.UID, "setup", 0), 2, false)
		st := h.waitStatus(pod.UID, "init attempt 1", func(st *corev1.PodStatus) bool {
			return runningID(st, "setup") == "containerd://"+cid(pod.UID, "setup", 1)
		})
		if st.Phase != corev1.PodPending || cstatus(t, st, "setup").RestartCount != 1 {
			t.Errorf("phase %s, %s", st.Phase, dump(cstatus(t, st, "setup")))
		}
		h.rt.Exit(cid(pod.UID, "setup", 1), 0, false)
		h.waitStatus(pod.UID, "Running", func(st *corev1.PodStatus) bool { return runningID(st, "app") != "" })
	})
}

func TestProbes(t *testing.T) {
	h := newHarness(t)
	// Liveness fails for the first run only (exec probes let the fake see
	// which run it probes).
	h.prober.set(func(kind probe.Kind, _, id string) probe.Result {
		if kind == probe.Liveness && strings.HasSuffix(id, "-0") {
			return probe.Failure
		}
		return probe.Success
	})
	h.start()
	c := ctr("app", "app:1")
	c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
		FailureThreshold: 1, PeriodSeconds: 1}
	pod := testPod("live", c)
	h.a.PodUpdated(pod)

	st := h.waitStatus(pod.UID, "attempt 1 running", func(st *corev1.PodStatus) bool {
		return runningID(st, "app") == "containerd://"+cid(pod.UID, "app", 1)
	})
	cs := cstatus(t, st, "app")
	if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ContainerID != "containerd://"+cid(pod.UID, "app", 0) {
		t.Errorf("after the liveness kill: %s", dump(cs))
	}
	if !slices.Contains(h.rt.stoppedIDs(), cid(pod.UID, "app", 0)) {
		t.Errorf("stopped %v", h.rt.stoppedIDs())
	}
	if ev := h.cluster.eventsOf(pod.UID); !slices.Contains(ev, "Killing: Container app failed liveness probe, will be restarted") {
		t.Errorf("events %q", ev)
	}
	// The new run is probed (and passes).
	waitFor(t, "a probe of the new run", func() bool { return h.prober.count(probe.Liveness) >= 2 }, nil)
	time.Sleep(20 * time.Millisecond)
	if n := h.rt.callCount("CreateContainer"); n != 2 {
		t.Errorf("%d containers created; the healthy run was restarted", n)
	}
}

func TestStartupProbe(t *testing.T) {
	h := newHarness(t)
	// The startup probe gives up on the first run; the second starts.
	h.prober.set(func(kind probe.Kind, _, id string) probe.Result {
		if kind == probe.Startup && strings.HasSuffix(id, "-0") {
			return probe.Failure
		}
		return probe.Success
	})
	h.start()
	c := ctr("app", "app:1")
	c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"started"}}},
		FailureThreshold: 1, PeriodSeconds: 1}
	pod := testPod("startup", c)
	h.a.PodUpdated(pod)
	st := h.waitStatus(pod.UID, "attempt 1 started", func(st *corev1.PodStatus) bool {
		return runningID(st, "app") == "containerd://"+cid(pod.UID, "app", 1) && condition(*st, corev1.PodReady) == corev1.ConditionTrue
	})
	if cs := cstatus(t, st, "app"); cs.RestartCount != 1 || cs.Started == nil || !*cs.Started || !cs.Ready {
		t.Errorf("status %s", dump(cs))
	}
	if ev := h.cluster.eventsOf(pod.UID); !slices.Contains(ev, "Killing: Container app failed startup probe, will be restarted") {
		t.Errorf("events %q", ev)
	}
	// Before it started, the first run was neither started nor ready.
	first := h.waitSaw(pod.UID, "attempt 0 running", func(st *corev1.PodStatus) bool {
		return runningID(st, "app") == "containerd://"+cid(pod.UID, "app", 0)
	})
	if cs := cstatus(t, first, "app"); cs.Started == nil || *cs.Started || cs.Ready {
		t.Errorf("unstarted run: %s", dump(cs))
	}
}

func TestReadiness(t *testing.T) {
	h := newHarness(t)
	h.start()
	c := ctr("app", "app:1")
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"ready"}}},
		FailureThreshold: 1, PeriodSeconds: 1}
	pod := testPod("ready", c)
	h.a.PodUpdated(pod)
	st := h.waitStatus(pod.UID, "Ready", func(st *corev1.PodStatus) bool { return condition(*st, corev1.PodReady) == corev1.ConditionTrue })
	if !cstatus(t, st, "app").Ready {
		t.Errorf("pod Ready but container not: %s", dump(st))
	}

	h.prober.set(func(kind probe.Kind, _, _ string) probe.Result {
		if kind == probe.Readiness {
			return probe.Failure
		}
		return probe.Success
	})
	// The probe runs every second: step the clock until it has seen the failure.
	waitFor(t, "Ready False", func() bool {
		h.clk.Step(time.Second)
		p := h.cluster.lastStatus(pod.UID)
		return condition(p.Status, corev1.PodReady) == corev1.ConditionFalse
	}, func() string { return dump(h.cluster.lastStatus(pod.UID).Status) })
	st = h.cluster.lastStatus(pod.UID).Status
	cs := cstatus(t, st, "app")
	if cs.Ready || cs.State.Running == nil || cs.RestartCount != 0 || cs.ContainerID != "containerd://"+cid(pod.UID, "app", 0) ||
		st.Phase != corev1.PodRunning || condition(st, corev1.ContainersReady) != corev1.ConditionFalse {
		t.Errorf("unready pod: %s", dump(st))
	}
	if n := h.rt.callCount("StopContainer"); n != 0 {
		t.Errorf("an unready container was stopped")
	}
	h.prober.set(nil)
	waitFor(t, "Ready again", func() bool {
		h.clk.Step(time.Second)
		return condition(h.cluster.lastStatus(pod.UID).Status, corev1.PodReady) == corev1.ConditionTrue
	}, nil)
}

func TestImagePullErrors(t *testing.T) {
	h := newHarness(t)
	h.rt.PullErrors["registry.example/app:1"] = errors.New("manifest unknown")
	h.start()
	pod := testPod("pull", ctr("app", "registry.example/app:1"))
	h.a.PodUpdated(pod)
	st := h.waitSaw(pod.UID, "ErrImagePull", func(st *corev1.PodStatus) bool { return waitingReason(st, "app") == reasonErrImagePull })
	if msg := cstatus(t, st, "app").State.Waiting.Message; msg != "manifest unknown" {
		t.Errorf("ErrImagePull message %q", msg)
	}
	if st.Phase != corev1.PodPending {
		t.Errorf("phase %s", st.Phase)
	}
	if ev := h.cluster.eventsOf(pod.UID); !slices.Contains(ev, `Failed: Failed to pull image "registry.example/app:1": manifest unknown`) {
		t.Errorf("events %q", ev)
	}
	pulls := h.rt.callCount("EnsureImage")

	// The next sync does not pull again: it backs off.
	h.kick(pod)
	st = h.waitStatus(pod.UID, "ImagePullBackOff", func(st *corev1.PodStatus) bool { return waitingReason(st, "app") == reasonImagePullBackOff })
	if msg := cstatus(t, st, "app").State.Waiting.Message; msg != `Back-off pulling image "registry.example/app:1": manifest unknown` {
		t.Errorf("ImagePullBackOff message %q", msg)
	}
	if n := h.rt.callCount("EnsureImage"); n != pulls {
		t.Errorf("pulled again during the back-off (%d pulls, then %d)", pulls, n)
	}
	// Another sync within the back-off says the same (not "Back-off ...:
	// Back-off ...").
	lists := h.rt.callCount("ListContainers")
	h.kick(pod)
	waitFor(t, "a sync", func() bool { return h.rt.callCount("ListContainers") > lists }, nil)
	time.Sleep(20 * time.Millisecond)
	for _, st := range h.cluster.statusesOf(pod.UID) {
		if w := findStatus(&st, "app").State.Waiting; w != nil && w.Reason == reasonImagePullBackOff &&
			w.Message != `Back-off pulling image "registry.example/app:1": manifest unknown` {
			t.Errorf("ImagePullBackOff message %q", w.Message)
		}
	}
	// Once the back-off is over it pulls again, and backs off twice as long.
	h.clk.Step(backoffInitial)
	h.kick(pod)
	waitFor(t, "a second pull", func() bool { return h.rt.callCount("EnsureImage") == pulls+1 }, nil)
	h.clk.Step(backoffInitial)
	h.kick(pod)
	h.waitStatus(pod.UID, "ImagePullBackOff again", func(st *corev1.PodStatus) bool { return waitingReason(st, "app") == reasonImagePullBackOff })
	if n := h.rt.callCount("EnsureImage"); n != pulls+1 {
		t.Errorf("pulled %d times within the second back-off (20s)", n-pulls)
	}
	if n := h.rt.callCount("CreateContainer"); n != 0 {
		t.Errorf("%d containers created without their image", n)
	}
}

func TestImageNeverPull(t *testing.T) {
	h := newHarness(t)
	h.start()
	c := ctr("app", "local/app:1")
	c.ImagePullPolicy = corev1.PullNever
	pod := testPod("never", c)
	h.a.PodUpdated(pod)
	st := h.waitStatus(pod.UID, "ErrImageNeverPull", func(st *corev1.PodStatus) bool { return waitingReason(st, "app") == reasonErrImageNeverPull })
	want := `Container image "local/app:1" is not present with pull policy of Never`
	if msg := cstatus(t, st, "app").State.Waiting.Message; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	// Imported, it runs.
	h.rt.AddImage(runtime.Image{Ref: "local/app:1"})
	h.kick(pod)
	h.waitStatus(pod.UID, "Running", func(st *corev1.PodStatus) bool { return st.Phase == corev1.PodRunning })
}

func TestStartError(t *testing.T) {
	h := newHarness(t)
	h.rt.StartErrors["broken:1"] = errors.New(`exec: "nope": executable file not found in $PATH`)
	h.start()
	pod := testPod("starterr", ctr("app", "broken:1"))
	h.a.PodUpdated(pod)

	// The first failure is restarted at once, like a crash; the second
	// backs off.
	st := h.waitStatus(pod.UID, "CrashLoopBackOff", func(st *corev1.PodStatus) bool { return waitingReason(st, "app") == reasonCrashLoop })
	cs := cstatus(t, st, "app")
	lt := cs.LastTerminationState.Terminated
	if lt == nil || lt.Reason != "StartError" || lt.ExitCode != 128 || lt.Message != `exec: "nope": executable file not found in $PATH` ||
		lt.ContainerID != "containerd://"+cid(pod.UID, "app", 1) {
		t.Errorf("lastState.terminated %s", dump(lt))
	}
	if cs.RestartCount != 1 || !strings.HasPrefix(cs.State.Waiting.Message, "back-off 10s ") {
		t.Errorf("status %s", dump(cs))
	}
	if st.Phase != corev1.PodRunning {
		t.Errorf("phase %s", st.Phase)
	}
	if ev := h.cluster.eventsOf(pod.UID); !slices.ContainsFunc(ev, func(e string) bool {
		return strings.HasPrefix(e, "Failed: Error: container app: ") && strings.Contains(e, "executable file not found")
	}) {
		t.Errorf("events %q", ev)
	}
	if n := h.rt.callCount("StartContainer"); n != 2 {
		t.Errorf("%d starts before the back-off, want 2", n)
	}
	h.stepAfter(backoffInitial, 0)
	waitFor(t, "attempt 2", func() bool { return h.rt.callCount("StartContainer") == 3 }, nil)
	h.waitStatus(pod.UID, "back-off 20s", func(st *corev1.PodStatus) bool {
		return waitingReason(st, "app") == reasonCrashLoop && strings.HasPrefix(findStatus(st, "app").State.Waiting.Message, "back-off 20s ")
	})
}
