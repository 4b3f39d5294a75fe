package gc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/queue"
	"k8s.io/utils/clock"
)

// Name names the collector in logs.
const Name = "garbage-collector"

// DefaultWorkers is Config.Workers when zero.
const DefaultWorkers = 2

// Watch returns the informers of kinds (when none: the registry's
// Collected kinds), for Config.Informers. The collector reads only
// metadata from them, so a kind no other controller caches whole gets a
// metadata-only informer: call Watch after the other controllers have
// asked for theirs.
func Watch(infs *reconcile.Informers, reg *resources.Registry, kinds ...string) []*reconcile.Informer {
	if len(kinds) == 0 {
		kinds = CollectedKinds(reg)
	}
	out := make([]*reconcile.Informer, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, infs.ForMetadata(k))
	}
	return out
}

// CollectedKinds are the kinds the registry marks Collected: what the
// controllers create with ownerReferences (Deployment → ReplicaSet → Pod)
// and what users commonly give owners.
func CollectedKinds(reg *resources.Registry) []string {
	var out []string
	for _, res := range reg.All() {
		if res.Collected {
			out = append(out, res.Kind)
		}
	}
	return out
}

// Config configures the collector.
type Config struct {
	// Informers are the kinds watched, each both as dependents (objects
	// whose owners are checked) and as owners (their deletion wakes their
	// dependents up). Owners of other kinds are read from Reader. The
	// collector reads only metadata from them: they may hold metadata
	// alone (see Watch); what it writes it reads whole from Reader.
	Informers []*reconcile.Informer
	// Reader confirms that an owner is gone before anything is deleted:
	// on the leader, its local store, read stale (it holds every owner a
	// cached dependent can refer to, whatever the owner's informer shows).
	Reader   storage.Reader
	Registry *resources.Registry
	// Writer deletes dependents (a bound pod is only marked for deletion:
	// its agent stops it) and removes references to gone owners.
	Writer reconcile.Writer
	// Clock drives the retry backoff.
	Clock   clock.WithDelayedExecution
	Workers int
	// Queue tunes the retry backoff (its Clock is Clock).
	Queue  queue.Config
	Logger *slog.Logger
}

// Collector is the garbage collector; a leader loop.
type Collector struct {
	cfg    Config
	byKind map[string]*reconcile.Informer
	ctrl   *reconcile.Controller
	log    *slog.Logger
}

// New returns the collector with its handlers registered on the
// informers. Build one per leadership term: Run works once.
func New(cfg Config) *Collector {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Queue.Clock = cfg.Clock
	c := &Collector{cfg: cfg, byKind: map[string]*reconcile.Informer{}, log: cfg.Logger.With("controller", "gc")}
	c.ctrl = reconcile.NewController(reconcile.ControllerConfig{
		Name: "gc", Sync: c.sync, Workers: cfg.Workers, WaitFor: cfg.Informers,
		Queue: cfg.Queue, Logger: cfg.Logger,
	})
	for _, inf := range cfg.Informers {
		c.byKind[inf.Kind()] = inf
		inf.AddIndex(reconcile.IndexOwnerUID, reconcile.OwnerUIDIndex)
	}
	for _, inf := range cfg.Informers {
		kind := inf.Kind()
		inf.AddHandler(reconcile.Handler{
			OnAdd: func(obj apis.Object) { c.enqueueIfOwned(kind, obj); c.enqueueIfPropagating(kind, obj) },
			OnUpdate: func(old, obj apis.Object) {
				if old.GetUID() != obj.GetUID() {
					// Deleted and recreated between two lists: the
					// old object's dependents lost their owner.
					c.ownerGone(old)
					c.enqueueIfOwned(kind, obj)
					c.enqueueIfPropagating(kind, obj)
					return
				}
				if !sameRefs(old, obj) || len(old.GetFinalizers()) != len(obj.GetFinalizers()) {
					c.enqueueIfOwned(kind, obj)
					c.enqueueIfPropagating(kind, obj)
				}
				if !sameRefs(old, obj) {
					c.enqueuePropagatingOwners(old) // one dependent fewer
				}
			},
			OnDelete: func(obj apis.Object) {
				c.ownerGone(obj)
				c.enqueuePropagatingOwners(obj)
			},
		})
	}
	return c
}

// Run collects until ctx ends; the informers must be running.
func (c *Collector) Run(ctx context.Context) error { return c.ctrl.Run(ctx) }

// Queue is the collector's work queue (for tests and metrics).
func (c *Collector) Queue() *queue.Queue { return c.ctrl.Queue() }

// workKey is the queue key of an object of kind: "Kind/namespace/name".
func workKey(kind string, obj apis.Object) string { return kind + "/" + reconcile.Key(obj) }

func splitWorkKey(key string) (kind, namespace, name string, err error) {
	kind, rest, ok := strings.Cut(key, "/")
	if !ok || kind == "" || rest == "" {
		return "", "", "", fmt.Errorf("gc: bad work key %q", key)
	}
	namespace, name = reconcile.SplitKey(rest)
	return kind, namespace, name, nil
}

func (c *Collector) enqueueIfOwned(kind string, obj apis.Object) {
	if len(obj.GetOwnerReferences()) > 0 {
		c.ctrl.Enqueue(workKey(kind, obj))
	}
}

// enqueueIfPropagating enqueues obj when it waits for the collector to
// orphan or delete its dependents.
func (c *Collector) enqueueIfPropagating(kind string, obj apis.Object) {
	if obj.GetDeletionTimestamp() != nil && propagation(obj) != "" {
		c.ctrl.Enqueue(workKey(kind, obj))
	}
}

// enqueuePropagatingOwners enqueues the owners of dep that wait for their
// dependents to be gone (foreground deletion).
func (c *Collector) enqueuePropagatingOwners(dep apis.Object) {
	for _, ref := range dep.GetOwnerReferences() {
		inf := c.byKind[ref.Kind]
		if inf == nil {
			continue
		}
		namespace := ""
		if inf.Resource().Namespaced {
			namespace = dep.GetNamespace()
		}
		if o, ok := inf.Get(namespace, ref.Name); ok && o.GetUID() == ref.UID && o.GetDeletionTimestamp() != nil {
			c.ctrl.Enqueue(workKey(ref.Kind, o))
		}
	}
}

// ownerGone enqueues every cached dependent of obj.
func (c *Collector) ownerGone(obj apis.Object) {
	uid := string(obj.GetUID())
	if uid == "" {
		return
	}
	for _, inf := range c.cfg.Informers {
		for _, dep := range inf.ByIndex(reconcile.IndexOwnerUID, uid) {
			c.ctrl.Enqueue(workKey(inf.Kind(), dep))
		}
	}
}

// sameRefs reports whether a and b have the same owners, in order.
func sameRefs(a, b apis.Object) bool {
	ra, rb := a.GetOwnerReferences(), b.GetOwnerReferences()
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if ra[i].UID != rb[i].UID {
			return false
		}
	}
	return true
}
