package probe

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// ManagerConfig configures a Manager. Every field may be left zero.
type ManagerConfig struct {
	// Clock drives probe schedules; nil means the real clock.
	Clock clock.Clock
	// Execer returns the runtime's Execer for a container; exec probes of a
	// container fail as Unknown when it is nil or returns nil. It is called
	// once per container run, with the Manager's lock held: it must be
	// cheap and must not call the Manager.
	Execer func(containerID string) Execer
	// OnUpdate is called when a probe's result changes (see Update), on the
	// probe's goroutine and without the Manager's lock: it may call the
	// Manager, and should return quickly (enqueue the pod for a sync). An
	// update racing with RemoveContainer or a restart can arrive just after
	// it; compare Update.ContainerID with the run you know.
	OnUpdate func(Update)
	// Logger is where probe changes and probes that cannot run are logged;
	// nil means slog.Default().
	Logger *slog.Logger
	// Prober runs the checks; nil means NewProber(). Tests give a fake.
	Prober Prober
}

// Manager runs the probes of every container on the node: a worker per
// (container run, probe kind). A container's startup probe runs first;
// its liveness and readiness probes begin only once it has succeeded.
type Manager struct {
	clock    clock.Clock
	execer   func(containerID string) Execer
	onUpdate func(Update)
	prober   Prober
	log      *slog.Logger

	mu     sync.Mutex
	closed bool
	pods   map[string]map[string]*probedContainer // pod UID -> container name
}

// probedContainer is one run of one container and its workers.
type probedContainer struct {
	podUID    string
	id        string
	spec      *corev1.Container
	target    Target
	startedAt time.Time
	workers   map[Kind]*worker
	stopped   bool
}

// NewManager returns a Manager with no containers.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Prober == nil {
		cfg.Prober = NewProber()
	}
	return &Manager{
		clock:    cfg.Clock,
		execer:   cfg.Execer,
		onUpdate: cfg.OnUpdate,
		prober:   cfg.Prober,
		log:      cfg.Logger.With("component", "probe"),
		pods:     make(map[string]map[string]*probedContainer),
	}
}

// AddContainer starts probing a running container: c is its spec (not nil; copied),
// containerID the run, startedAt when the runtime started it (initial
// delays count from there). Calling it again for the same run does
// nothing, so a sync loop may call it on every pass; a new containerID for
// the same name (a restart) replaces the old run's workers and state.
func (m *Manager) AddContainer(podUID, podIP string, c *corev1.Container, containerID string, startedAt time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	containers := m.pods[podUID]
	if old := containers[c.Name]; old != nil {
		if old.id == containerID {
			return
		}
		old.stop()
	}
	if containers == nil {
		containers = make(map[string]*probedContainer)
		m.pods[podUID] = containers
	}
	spec := c.DeepCopy()
	pc := &probedContainer{
		podUID:    podUID,
		id:        containerID,
		spec:      spec,
		target:    Target{PodIP: podIP, Container: spec},
		startedAt: startedAt,
		workers:   make(map[Kind]*worker),
	}
	if m.execer != nil && usesExec(spec) {
		pc.target.Exec = m.execer(containerID)
	}
	containers[c.Name] = pc
	if spec.StartupProbe != nil {
		m.startLocked(pc, Startup)
		return
	}
	m.startLocked(pc, Liveness)
	m.startLocked(pc, Readiness)
}

// RemoveContainer stops probing a container (any run) and forgets it.
func (m *Manager) RemoveContainer(podUID, containerName string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	containers := m.pods[podUID]
	if pc := containers[containerName]; pc != nil {
		pc.stop()
		delete(containers, containerName)
	}
	if len(containers) == 0 {
		delete(m.pods, podUID)
	}
}

// RemovePod stops probing every container of a pod and forgets them.
func (m *Manager) RemovePod(podUID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, pc := range m.pods[podUID] {
		pc.stop()
	}
	delete(m.pods, podUID)
}

// Close stops every worker; AddContainer does nothing afterwards.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, containers := range m.pods {
		for _, pc := range containers {
			pc.stop()
		}
	}
	m.pods = make(map[string]map[string]*probedContainer)
}

// Readiness reports whether a container is ready: it has started (see
// Started) and either has no readiness probe or that probe's result is
// Success. known is false when the Manager does not have the container.
func (m *Manager) Readiness(podUID, containerName string) (ready, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pc := m.pods[podUID][containerName]
	if pc == nil {
		return false, false
	}
	if !pc.startedLocked() {
		return false, true
	}
	return pc.resultLocked(Readiness) == Success, true
}

// Liveness reports whether a container is alive: true unless its liveness
// probe has failed failureThreshold times in a row. A container whose
// liveness probe failed should be restarted (then AddContainer with the
// new ID). known is false when the Manager does not have the container.
func (m *Manager) Liveness(podUID, containerName string) (alive, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pc := m.pods[podUID][containerName]
	if pc == nil {
		return false, false
	}
	return pc.resultLocked(Liveness) == Success, true
}

// Started reports whether a container has started: true when it has no
// startup probe or its startup probe has succeeded. A startup probe that
// fails failureThreshold times in a row is reported through OnUpdate, and
// the container should be restarted. known is false when the Manager does
// not have the container.
func (m *Manager) Started(podUID, containerName string) (started, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pc := m.pods[podUID][containerName]
	if pc == nil {
		return false, false
	}
	return pc.startedLocked(), true
}

// startLocked starts pc's worker of kind, if pc has such a probe.
func (m *Manager) startLocked(pc *probedContainer, kind Kind) {
	p := probeOf(pc.spec, kind)
	if p == nil || pc.workers[kind] != nil {
		return
	}
	key := Key{PodUID: pc.podUID, ContainerName: pc.spec.Name, ContainerID: pc.id, Kind: kind}
	pc.workers[kind] = startWorker(context.Background(), workerConfig{
		Key:       key,
		Probe:     p,
		Target:    pc.target,
		Prober:    m.prober,
		StartedAt: pc.startedAt,
		Clock:     m.clock,
		OnUpdate:  func(u Update) { m.deliver(pc, u) },
		Logger: m.log.With("pod", key.PodUID, "container", key.ContainerName,
			"containerID", key.ContainerID, "probe", kind.String()),
	})
}

// deliver passes a worker's update on, unless its container run has been
// removed or replaced, and on a startup success starts the liveness and
// readiness workers.
func (m *Manager) deliver(pc *probedContainer, u Update) {
	m.mu.Lock()
	stopped := pc.stopped
	m.mu.Unlock()
	if stopped {
		return
	}
	if m.onUpdate != nil {
		m.onUpdate(u)
	}
	if u.Kind == Startup && u.Result == Success {
		// After the callback, so that the startup update comes first.
		m.mu.Lock()
		if !pc.stopped {
			m.startLocked(pc, Liveness)
			m.startLocked(pc, Readiness)
		}
		m.mu.Unlock()
	}
}

func (pc *probedContainer) stop() {
	pc.stopped = true
	for _, w := range pc.workers {
		w.Stop()
	}
}

func (pc *probedContainer) startedLocked() bool {
	return pc.resultLocked(Startup) == Success
}

// resultLocked is the current result of pc's probe of kind: Success when
// it has no such probe, the kind's initial result while its worker has not
// started (waiting for the startup probe).
func (pc *probedContainer) resultLocked(kind Kind) Result {
	if probeOf(pc.spec, kind) == nil {
		return Success
	}
	if w := pc.workers[kind]; w != nil {
		return w.current()
	}
	return kind.initialResult()
}

func probeOf(c *corev1.Container, kind Kind) *corev1.Probe {
	switch kind {
	case Liveness:
		return c.LivenessProbe
	case Readiness:
		return c.ReadinessProbe
	case Startup:
		return c.StartupProbe
	}
	return nil
}

func usesExec(c *corev1.Container) bool {
	for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		if p != nil && p.Exec != nil {
			return true
		}
	}
	return false
}
