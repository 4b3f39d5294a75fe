package probe

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// managerHarness runs a Manager on a fake clock; every container run gets a
// scriptExecer with the scripts given for its container ID.
type managerHarness struct {
	t   *testing.T
	fc  *clocktesting.FakeClock
	m   *Manager
	log updateLog

	mu       sync.Mutex
	scripts  map[string]map[string][]int // container ID -> command -> exit codes
	execers  map[string]*scriptExecer
	onUpdate func(Update) // optional extra callback
}

func newManagerHarness(t *testing.T, scripts map[string]map[string][]int) *managerHarness {
	h := &managerHarness{t: t, fc: clocktesting.NewFakeClock(t0), scripts: scripts, execers: map[string]*scriptExecer{}}
	h.m = NewManager(ManagerConfig{
		Clock: h.fc,
		Execer: func(id string) Execer {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.execers[id] != nil {
				t.Errorf("execer for %s made twice", id)
			}
			h.execers[id] = newScriptExecer(id, h.scripts[id])
			return h.execers[id]
		},
		OnUpdate: func(u Update) {
			h.log.add(u)
			h.mu.Lock()
			f := h.onUpdate
			h.mu.Unlock()
			if f != nil {
				f(u)
			}
		},
		Logger: discardLogger(),
	})
	t.Cleanup(h.m.Close)
	return h
}

func (h *managerHarness) execer(id string) *scriptExecer {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	ex := h.execers[id]
	if ex == nil {
		h.t.Fatalf("no execer made for %s", id)
	}
	return ex
}

// step moves the clock one default period and waits until n workers sleep.
func (h *managerHarness) step(n int) {
	h.t.Helper()
	h.fc.Step(defaultPeriod)
	waitWaiters(h.t, h.fc, n)
}

type state struct{ started, alive, ready, known bool }

func (h *managerHarness) state(pod, name string) state {
	var s state
	var k1, k2, k3 bool
	s.started, k1 = h.m.Started(pod, name)
	s.alive, k2 = h.m.Liveness(pod, name)
	s.ready, k3 = h.m.Readiness(pod, name)
	if k1 != k2 || k2 != k3 {
		h.t.Fatalf("known differs: started %v liveness %v readiness %v", k1, k2, k3)
	}
	s.known = k1
	return s
}

func (h *managerHarness) wantState(pod, name string, want state) {
	h.t.Helper()
	if got := h.state(pod, name); got != want {
		h.t.Fatalf("%s/%s: %+v, want %+v", pod, name, got, want)
	}
}

func (h *managerHarness) wantUpdates(want ...Update) {
	h.t.Helper()
	if got := h.log.all(); fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Fatalf("updates\n got %v\nwant %v", got, want)
	}
}

// wantUpdatesAnyOrder is wantUpdates for updates of different workers,
// whose order is not defined.
func (h *managerHarness) wantUpdatesAnyOrder(want ...Update) {
	h.t.Helper()
	got := h.log.all()
	byString := func(a, b Update) int { return strings.Compare(a.String(), b.String()) }
	slices.SortFunc(got, byString)
	slices.SortFunc(want, byString)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Fatalf("updates\n got %v\nwant %v", got, want)
	}
}

// probedContainerSpec has an exec probe for each kind named (commands
// "startup", "live", "ready").
func probedContainerSpec(name string, kinds ...Kind) *corev1.Container {
	c := &corev1.Container{Name: name}
	for _, k := range kinds {
		switch k {
		case Startup:
			c.StartupProbe = execProbeSpec("startup", nil)
		case Liveness:
			c.LivenessProbe = execProbeSpec("live", nil)
		case Readiness:
			c.ReadinessProbe = execProbeSpec("ready", nil)
		}
	}
	return c
}

func key(pod, name, id string, k Kind) Key {
	return Key{PodUID: pod, ContainerName: name, ContainerID: id, Kind: k}
}

func TestManagerStartupGatesLivenessAndReadiness(t *testing.T) {
	h := newManagerHarness(t, map[string]map[string][]int{
		"c1": {"startup": {1, 1, 0}, "live": {0}, "ready": {0}},
	})
	h.m.AddContainer("pod-1", "10.42.0.5", probedContainerSpec("app", Startup, Liveness, Readiness), "c1", t0)
	waitWaiters(t, h.fc, 1)
	ex := h.execer("c1")
	for i := 1; i <= 2; i++ {
		if i > 1 {
			h.step(1)
		}
		if s, l, r := ex.callCount("startup"), ex.callCount("live"), ex.callCount("ready"); s != i || l != 0 || r != 0 {
			t.Fatalf("period %d: calls startup %d live %d ready %d, want %d 0 0", i, s, l, r, i)
		}
		h.wantState("pod-1", "app", state{started: false, alive: true, ready: false, known: true})
	}
	h.wantUpdates()

	// The third startup check succeeds: liveness and readiness begin at once
	// (their initial delay, counted from the container start, has passed).
	h.step(2)
	if s, l, r := ex.callCount("startup"), ex.callCount("live"), ex.callCount("ready"); s != 3 || l != 1 || r != 1 {
		t.Fatalf("calls startup %d live %d ready %d, want 3 1 1", s, l, r)
	}
	h.wantUpdates(
		Update{Key: key("pod-1", "app", "c1", Startup), Result: Success, Message: "startup #3"},
		Update{Key: key("pod-1", "app", "c1", Readiness), Result: Success, Message: "ready #1"},
	)
	h.wantState("pod-1", "app", state{started: true, alive: true, ready: true, known: true})

	// The startup worker is done; the other two go on.
	h.step(2)
	if s, l, r := ex.callCount("startup"), ex.callCount("live"), ex.callCount("ready"); s != 3 || l != 2 || r != 2 {
		t.Fatalf("calls startup %d live %d ready %d, want 3 2 2", s, l, r)
	}
}

func TestManagerStartupFailureIsReported(t *testing.T) {
	h := newManagerHarness(t, map[string]map[string][]int{"c1": {"startup": {1}}})
	h.m.AddContainer("pod-1", "10.42.0.5", probedContainerSpec("app", Startup, Liveness, Readiness), "c1", t0)
	waitWaiters(t, h.fc, 1)
	h.step(1)
	h.fc.Step(defaultPeriod) // the third failure: the worker reports and holds
	waitFor(t, "the startup failure", func() bool { return len(h.log.all()) == 1 })
	h.wantUpdates(Update{Key: key("pod-1", "app", "c1", Startup), Result: Failure,
		Message: "command exited with code 1: startup #3"})
	h.wantState("pod-1", "app", state{started: false, alive: true, ready: false, known: true})
	h.fc.Step(time.Hour)
	ex := h.execer("c1")
	if s, l, r := ex.callCount("startup"), ex.callCount("live"), ex.callCount("ready"); s != 3 || l != 0 || r != 0 {
		t.Fatalf("calls startup %d live %d ready %d, want 3 0 0", s, l, r)
	}
}

func TestManagerContainerWithoutProbes(t *testing.T) {
	h := newManagerHarness(t, nil)
	h.m.AddContainer("pod-1", "10.42.0.5", &corev1.Container{Name: "app"}, "c1", t0)
	h.wantState("pod-1", "app", state{started: true, alive: true, ready: true, known: true})
	h.wantState("pod-1", "other", state{})
	h.wantState("pod-2", "app", state{})
	if n := h.fc.Waiters(); n != 0 {
		t.Fatalf("%d workers waiting, want none", n)
	}
}

func TestManagerReadinessStartsFalse(t *testing.T) {
	h := newManagerHarness(t, map[string]map[string][]int{"c1": {"ready": {0}}})
	c := probedContainerSpec("app", Readiness)
	c.ReadinessProbe.InitialDelaySeconds = 10
	h.m.AddContainer("pod-1", "10.42.0.5", c, "c1", t0)
	waitWaiters(t, h.fc, 1)
	h.wantState("pod-1", "app", state{started: true, alive: true, ready: false, known: true})
	h.step(1)
	h.wantState("pod-1", "app", state{started: true, alive: true, ready: true, known: true})
	h.wantUpdates(Update{Key: key("pod-1", "app", "c1", Readiness), Result: Success, Message: "ready #1"})
}

func TestManagerRestartReplacesWorkers(t *testing.T) {
	h := newManagerHarness(t, map[string]map[string][]int{
		"c1": {"live": {1}, "ready": {0}},
		"c2": {"live": {0}, "ready": {0}},
	})
	c := probedContainerSpec("app", Liveness, Readiness)
	c.LivenessProbe.FailureThreshold = 1
	h.m.AddContainer("pod-1", "10.42.0.5", c, "c1", t0)
	waitFor(t, "two updates", func() bool { return len(h.log.all()) == 2 })
	waitWaiters(t, h.fc, 1) // liveness holds, readiness goes on
	h.wantState("pod-1", "app", state{started: true, alive: false, ready: true, known: true})

	// The same run again changes nothing (and makes no second execer).
	h.m.AddContainer("pod-1", "10.42.0.5", c, "c1", t0)
	h.wantState("pod-1", "app", state{started: true, alive: false, ready: true, known: true})

	// The restarted container is a new run, alive until proven otherwise;
	// the old run's workers stop.
	h.step(1) // the old run's readiness probes a second time
	h.m.AddContainer("pod-1", "10.42.0.5", c, "c2", h.fc.Now())
	waitFor(t, "three updates", func() bool { return len(h.log.all()) == 3 })
	waitWaiters(t, h.fc, 2)
	h.wantState("pod-1", "app", state{started: true, alive: true, ready: true, known: true})
	h.step(2)
	h.step(2)
	old, cur := h.execer("c1"), h.execer("c2")
	if l, r := old.callCount("live"), old.callCount("ready"); l != 1 || r != 2 {
		t.Fatalf("old run probed live %d ready %d times, want 1 2", l, r)
	}
	if l, r := cur.callCount("live"), cur.callCount("ready"); l != 3 || r != 3 {
		t.Fatalf("new run probed live %d ready %d times, want 3 3", l, r)
	}
	h.wantUpdatesAnyOrder(
		Update{Key: key("pod-1", "app", "c1", Liveness), Result: Failure, Message: "command exited with code 1: live #1"},
		Update{Key: key("pod-1", "app", "c1", Readiness), Result: Success, Message: "ready #1"},
		Update{Key: key("pod-1", "app", "c2", Readiness), Result: Success, Message: "ready #1"},
	)
}

func TestManagerRemove(t *testing.T) {
	h := newManagerHarness(t, map[string]map[string][]int{
		"a1": {"ready": {1}}, "b1": {"ready": {1}}, "c1": {"ready": {1, 0}},
	})
	h.m.AddContainer("pod-1", "10.42.0.5", probedContainerSpec("a", Readiness), "a1", t0)
	h.m.AddContainer("pod-1", "10.42.0.5", probedContainerSpec("b", Readiness), "b1", t0)
	h.m.AddContainer("pod-2", "10.42.0.6", probedContainerSpec("c", Readiness), "c1", t0)
	waitWaiters(t, h.fc, 3)

	h.m.RemoveContainer("pod-1", "a")
	waitWaiters(t, h.fc, 2)
	h.wantState("pod-1", "a", state{})
	h.wantState("pod-1", "b", state{started: true, alive: true, ready: false, known: true})

	h.m.RemovePod("pod-1")
	waitWaiters(t, h.fc, 1)
	h.wantState("pod-1", "b", state{})
	h.step(1)
	h.step(1)
	if a, b, c := h.execer("a1").callCount("ready"), h.execer("b1").callCount("ready"), h.execer("c1").callCount("ready"); a != 1 || b != 1 || c != 3 {
		t.Fatalf("calls a %d b %d c %d, want 1 1 3", a, b, c)
	}
	h.wantState("pod-2", "c", state{started: true, alive: true, ready: true, known: true})
	h.wantUpdates(Update{Key: key("pod-2", "c", "c1", Readiness), Result: Success, Message: "ready #2"})

	// Removing what is not there is harmless.
	h.m.RemoveContainer("pod-9", "x")
	h.m.RemovePod("pod-9")
}

func TestManagerCallbackMayCallManager(t *testing.T) {
	h := newManagerHarness(t, map[string]map[string][]int{"c1": {"live": {1}}})
	h.mu.Lock()
	h.onUpdate = func(u Update) {
		// What an agent might do: read the state, then drop the container.
		if u.Kind != Liveness {
			return
		}
		if alive, _ := h.m.Liveness(u.PodUID, u.ContainerName); alive {
			t.Errorf("liveness true inside the failure's callback")
		}
		h.m.RemoveContainer(u.PodUID, u.ContainerName)
	}
	h.mu.Unlock()
	c := probedContainerSpec("app", Liveness, Readiness)
	c.LivenessProbe.FailureThreshold = 1
	h.m.AddContainer("pod-1", "10.42.0.5", c, "c1", t0)
	waitFor(t, "the container's removal", func() bool { return !h.state("pod-1", "app").known })
	waitWaiters(t, h.fc, 0)
}

func TestManagerClose(t *testing.T) {
	h := newManagerHarness(t, map[string]map[string][]int{"c1": {"ready": {0}}})
	h.m.AddContainer("pod-1", "10.42.0.5", probedContainerSpec("app", Readiness), "c1", t0)
	waitWaiters(t, h.fc, 1)
	h.m.Close()
	waitWaiters(t, h.fc, 0)
	h.wantState("pod-1", "app", state{})
	h.m.AddContainer("pod-1", "10.42.0.5", probedContainerSpec("app", Readiness), "c2", t0)
	h.wantState("pod-1", "app", state{})
}
