package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiffhq/skiff/agent/podnet"
	"github.com/skiffhq/skiff/agent/probe"
	"github.com/skiffhq/skiff/agent/runtime"
	"github.com/skiffhq/skiff/apis/metricsstore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Volumes prepares pods' volumes on the node (package volumes).
type Volumes interface {
	Setup(ctx context.Context, pod *corev1.Pod) (map[string]string, error)
	Cleanup(podUID string) error
	CleanupOrphans(keep map[string]bool) error
}

// Config configures an Agent.
type Config struct {
	NodeName string
	// DataDir holds pods' files (volumes, /etc/hosts), logs and state.
	DataDir string
	Cluster Cluster
	Runtime runtime.Runtime
	Network podnet.Network
	Volumes Volumes
	// Clock drives backoffs and probes; nil means the real clock.
	Clock clock.WithTicker
	// SyncPeriod wakes every pod worker; default 20 s.
	SyncPeriod time.Duration
	// HostIP is the node's address (status.hostIP).
	HostIP string
	// Prober runs probes; nil means the real one (tests give a fake).
	Prober probe.Prober
	// ResolvConf is the host's resolv.conf, copied into pods whose
	// dnsPolicy is Default (and merged into the cluster one's search
	// list); default /etc/resolv.conf.
	ResolvConf string
	// ClusterDNS is the address of the node's cluster DNS server, the
	// nameserver of ClusterFirst pods; empty: pods get the host's.
	ClusterDNS string
	// ClusterDomain is the cluster's DNS domain; default cluster.local.
	ClusterDomain string
	// OutOfRotation, when set, returns once Services no longer send new
	// connections to a deleted pod (or gives up): called before its
	// preStop hooks and SIGTERM, so that no request reaches a pod that
	// is shutting down.
	OutOfRotation func(ctx context.Context, pod *corev1.Pod)
	Logger        *slog.Logger
}

// Agent runs the pods bound to one node.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	clock  clock.WithTicker
	probes *probe.Manager

	mu      sync.Mutex
	pods    map[types.UID]*corev1.Pod
	workers map[types.UID]*podWorker
	backoff *backoffs
	// lastErr remembers, per container, why its last start failed (the
	// runtime has nothing to show for it).
	lastErr map[string]startFailure
	// pullErr keeps the registry's words of a container's last failed
	// pull, shown while the pull backs off.
	pullErr map[string]string
	events  eventLog
	usage   atomic.Pointer[metricsstore.Report] // the latest usage report
	// startupGaveUp holds the containers whose startup probe failed
	// for good: they are restarted.
	startupGaveUp map[string]bool

	ctx context.Context
	wg  sync.WaitGroup
}

// New returns an Agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if cfg.NodeName == "" || cfg.DataDir == "" || cfg.Cluster == nil || cfg.Runtime == nil || cfg.Network == nil || cfg.Volumes == nil {
		return nil, fmt.Errorf("agent: NodeName, DataDir, Cluster, Runtime, Network and Volumes are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.SyncPeriod == 0 {
		cfg.SyncPeriod = 20 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("component", "agent"), clock: cfg.Clock,
		pods: map[types.UID]*corev1.Pod{}, workers: map[types.UID]*podWorker{},
		backoff: newBackoffs(cfg.Clock), lastErr: map[string]startFailure{}, pullErr: map[string]string{}, startupGaveUp: map[string]bool{}}
	a.probes = probe.NewManager(probe.ManagerConfig{
		Clock:  cfg.Clock,
		Logger: cfg.Logger,
		Prober: cfg.Prober,
		Execer: func(containerID string) probe.Execer { return execer{rt: cfg.Runtime, id: containerID} },
		OnUpdate: func(u probe.Update) {
			if u.Key.Kind == probe.Startup && u.Result == probe.Failure {
				a.mu.Lock()
				a.startupGaveUp[u.Key.ContainerID] = true
				a.mu.Unlock()
			}
			a.kick(types.UID(u.Key.PodUID))
		},
	})
	for _, d := range []string{a.podsDir(), a.logsDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *Agent) podsDir() string { return filepath.Join(a.cfg.DataDir, "pods") }
func (a *Agent) logsDir() string { return filepath.Join(a.cfg.DataDir, "logs") }

// Run works until ctx ends. Pods arrive through PodUpdated / PodDeleted.
// Containers keep running when it returns: a restarted agent adopts them.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	a.ctx = ctx
	for uid := range a.pods {
		a.startWorkerLocked(uid)
	}
	a.mu.Unlock()
	go a.followExits(ctx)
	tick := a.clock.NewTicker(a.cfg.SyncPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			a.wg.Wait()
			a.probes.Close()
			return nil
		case <-tick.C():
			a.mu.Lock()
			for uid := range a.workers {
				a.kickLocked(uid)
			}
			a.mu.Unlock()
		}
	}
}

// followExits wakes the worker of a pod whose container ended.
func (a *Agent) followExits(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-a.cfg.Runtime.Exits():
			c, err := a.cfg.Runtime.ContainerStatus(ctx, id)
			if err != nil {
				continue
			}
			if uid := c.Labels[labelPodUID]; uid != "" {
				a.kick(types.UID(uid))
			}
		}
	}
}

// PodUpdated tells the agent the pod's latest version.
func (a *Agent) PodUpdated(pod *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pods[pod.UID] = pod
	a.kickLocked(pod.UID)
}

// PodDeleted tells the agent the pod is gone from the API.
func (a *Agent) PodDeleted(pod *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pods, pod.UID)
	a.kickLocked(pod.UID)
}

// pod returns the pod's latest version, nil once deleted.
func (a *Agent) pod(uid types.UID) *corev1.Pod {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pods[uid]
}

// Pods returns every pod the agent knows (for the endpoint's lookups).
func (a *Agent) Pods() []*corev1.Pod {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(a.pods))
	for _, p := range a.pods {
		out = append(out, p)
	}
	return out
}

func (a *Agent) kick(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kickLocked(uid)
}

func (a *Agent) kickLocked(uid types.UID) {
	w, ok := a.workers[uid]
	if !ok {
		if a.ctx == nil {
			return // not running yet: Run starts workers for known pods
		}
		w = a.startWorkerLocked(uid)
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// execer adapts the runtime to the probe package's Execer.
type execer struct {
	rt runtime.Runtime
	id string
}

func (e execer) ExecSync(ctx context.Context, cmd []string, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out limitedBuffer
	code, err := e.rt.Exec(ctx, e.id, cmd, nil, &out, &out)
	return code, out.b, err
}

// limitedBuffer keeps the first 10 KiB written.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 10<<10 - len(l.b); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		l.b = append(l.b, p[:room]...)
	}
	return len(p), nil
}
