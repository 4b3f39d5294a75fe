package nodelifecycle

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/queue"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Name names the controller in logs and events.
const Name = "node-lifecycle-controller"

// Defaults of Config.
const (
	// DefaultMonitorGrace is how old a node's last heartbeat may be before
	// the node is taken for unreachable (agents beat every 10 s).
	DefaultMonitorGrace = 20 * time.Second
	// DefaultPodEvictionTimeout is how long a node stays unhealthy before
	// its pods are evicted.
	DefaultPodEvictionTimeout = 30 * time.Second
	// DefaultMonitorPeriod is how often every node is checked.
	DefaultMonitorPeriod = 2 * time.Second
	DefaultWorkers       = 4
)

// Condition reason and message of a node whose agent went silent, and the
// events the controller records.
const (
	ReasonNodeStatusUnknown  = "NodeStatusUnknown"
	MessageNodeStatusUnknown = "skiff agent stopped posting node status"

	EventNodeNotReady         = "NodeNotReady"
	EventNodeControllerEvict  = "NodeControllerEviction"
	EventEvictionsPaused      = "EvictionsPaused"
	EventEvictionsResumed     = "EvictionsResumed"
	EventForceDeletedNodeLost = "NodeLost"
)

// IndexNodeName indexes pods by spec.nodeName (unbound pods are not
// indexed).
const IndexNodeName = "nodeName"

// NodeNameIndex is the IndexFunc of IndexNodeName.
func NodeNameIndex(obj apis.Object) []string {
	if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
		return []string{p.Spec.NodeName}
	}
	return nil
}

// PodDeleter removes a pod at once, without a grace period: what the
// controller does to a pod marked for deletion on a node whose agent is
// not there to finish the deletion.
type PodDeleter interface {
	// DeletePodNow deletes the pod if it still has uid.
	DeletePodNow(ctx context.Context, namespace, name string, uid types.UID) error
}

// StorePodDeleter is the PodDeleter of the leader: it deletes from the
// store directly (the Writer would only mark the pod again).
type StorePodDeleter struct {
	Store    storage.Writer
	Registry *resources.Registry
}

var _ PodDeleter = StorePodDeleter{}

// errNoPods: the registry does not serve pods (a wiring mistake).
var errNoPods = errors.New("nodelifecycle: the registry serves no Pod kind")

// DeletePodNow implements PodDeleter.
func (d StorePodDeleter) DeletePodNow(ctx context.Context, namespace, name string, uid types.UID) error {
	res, ok := d.Registry.ByKind("Pod")
	if !ok {
		return errNoPods
	}
	_, err := d.Store.Delete(ctx, res, namespace, name, storage.Preconditions{UID: string(uid)})
	return err
}

// Config configures the controller.
type Config struct {
	Nodes, Pods *reconcile.Informer
	// Writer writes node status and taints, and marks evicted pods for
	// graceful deletion.
	Writer reconcile.Writer
	// PodDeleter deletes evicted pods for good after their grace period.
	PodDeleter PodDeleter
	// Recorder records NodeNotReady, NodeControllerEviction, NodeLost,
	// EvictionsPaused and EvictionsResumed events; optional.
	Recorder reconcile.Recorder
	// Clock drives heartbeat ages, eviction times, the periodic check and
	// the retry backoff.
	Clock clock.WithDelayedExecution
	// MonitorGrace: a node whose Ready heartbeat is older is unreachable.
	MonitorGrace time.Duration
	// PodEvictionTimeout: the pods of a node unhealthy for longer are
	// evicted (those tolerating the NoExecute taint after their
	// tolerationSeconds instead).
	PodEvictionTimeout time.Duration
	// MonitorPeriod is how often every node is checked, besides its
	// changes.
	MonitorPeriod time.Duration
	Workers       int
	// Queue tunes the retry backoff (its Clock is Clock).
	Queue  queue.Config
	Logger *slog.Logger
}

// Controller is the node lifecycle controller; a leader loop.
type Controller struct {
	cfg  Config
	ctrl *reconcile.Controller
	log  *slog.Logger

	mu sync.Mutex
	// unhealthySince: when each unhealthy node was first seen so by this
	// controller (a new leader starts over, except for Ready=Unknown,
	// whose lastTransitionTime is kept in the node).
	unhealthySince map[string]time.Time
	paused         bool
	// probes: the last heartbeat seen of each node, and when this
	// controller saw it change. Staleness is measured on the leader's clock
	// from that change, not from the agent's timestamp: agents' clocks may
	// be off, and a new leader gives every node a full grace first.
	probes map[string]probe
	// marked are the pods this controller marked for deletion that its
	// cache may not show so yet: two syncs of a node in a row do not evict
	// (and report) a pod twice.
	marked map[types.UID]bool

	// synced, when set (tests), is told of every node sync that succeeded
	// and the resourceVersion of the node it read.
	synced func(node, resourceVersion string, now time.Time)
}

// monitorKey is the queue key of the periodic check; no node is named so.
const monitorKey = "<monitor>"

// New returns the controller with its handlers registered on the
// informers. Build one per leadership term: Run works once.
func New(cfg Config) *Controller {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.MonitorGrace <= 0 {
		cfg.MonitorGrace = DefaultMonitorGrace
	}
	if cfg.PodEvictionTimeout <= 0 {
		cfg.PodEvictionTimeout = DefaultPodEvictionTimeout
	}
	if cfg.MonitorPeriod <= 0 {
		cfg.MonitorPeriod = DefaultMonitorPeriod
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Recorder == nil {
		cfg.Recorder = reconcile.NopRecorder{}
	}
	cfg.Queue.Clock = cfg.Clock
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "nodelifecycle"), unhealthySince: map[string]time.Time{},
		marked: map[types.UID]bool{}, probes: map[string]probe{}}
	c.ctrl = reconcile.NewController(reconcile.ControllerConfig{
		Name: "nodelifecycle", Sync: c.sync, Workers: cfg.Workers,
		WaitFor: []*reconcile.Informer{cfg.Nodes, cfg.Pods},
		Queue:   cfg.Queue, Logger: cfg.Logger,
	})
	cfg.Pods.AddIndex(IndexNodeName, NodeNameIndex)
	cfg.Nodes.AddHandler(reconcile.Handler{
		OnAdd:    func(obj apis.Object) { c.ctrl.Enqueue(obj.GetName()) },
		OnUpdate: func(_, obj apis.Object) { c.ctrl.Enqueue(obj.GetName()) },
		OnDelete: func(obj apis.Object) { c.ctrl.Enqueue(obj.GetName()) },
	})
	cfg.Pods.AddHandler(reconcile.Handler{OnDelete: func(obj apis.Object) { c.unmark(obj.GetUID()) }})
	c.ctrl.Enqueue(monitorKey)
	return c
}

// Run watches nodes until ctx ends; the informers must be running.
func (c *Controller) Run(ctx context.Context) error { return c.ctrl.Run(ctx) }

// Queue is the controller's work queue (for tests and metrics).
func (c *Controller) Queue() *queue.Queue { return c.ctrl.Queue() }

// monitor checks for a partition, then every node; it comes back after
// MonitorPeriod.
func (c *Controller) monitor(ctx context.Context) {
	// The next check is due before any node of this one is synced.
	c.ctrl.Queue().AddAfter(monitorKey, c.cfg.MonitorPeriod)
	c.checkPartition(ctx, c.cfg.Clock.Now())
	for _, n := range c.cfg.Nodes.List() {
		c.ctrl.Enqueue(n.GetName())
	}
}
