package replicaset

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/queue"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
)

// Name names the controller in logs and events.
const Name = "replicaset-controller"

// Defaults of Config.
const (
	DefaultWorkers = 5
	// DefaultBurst bounds the pods created or deleted by one sync; the rest
	// follow in the next syncs, once the cache shows these.
	DefaultBurst = 500
	// DefaultStatusBatch is the StatusBatch the servers use.
	DefaultStatusBatch = 100 * time.Millisecond
)

// Config configures the controller.
type Config struct {
	ReplicaSets, Pods *reconcile.Informer
	Writer            reconcile.Writer
	// Recorder records SuccessfulCreate, SuccessfulDelete, FailedCreate
	// and FailedDelete events about the ReplicaSet; optional.
	Recorder reconcile.Recorder
	// Clock drives availability (minReadySeconds), expectations and the
	// retry backoff.
	Clock   clock.WithDelayedExecution
	Workers int
	Burst   int
	// StatusBatch gathers the syncs that pod changes which can only move
	// the counts in a ReplicaSet's status (a pod ready, running, added
	// while more are expected) ask for: one sync at most this long after
	// the first, instead of one per pod. Zero syncs at once. Each sync
	// walks all of the ReplicaSet's pods, so when 10,000 report Running
	// one by one, syncing for each took a third of the master's CPU.
	StatusBatch time.Duration
	// NameSuffix returns the random part of a new pod's name; default 5
	// random lowercase letters and digits.
	NameSuffix func() string
	// Queue tunes the retry backoff (its Clock is Clock).
	Queue  queue.Config
	Logger *slog.Logger
}

// Controller is the ReplicaSet controller; a leader loop.
type Controller struct {
	cfg  Config
	ctrl *reconcile.Controller
	exp  *reconcile.Expectations
	log  *slog.Logger

	// proven is, per ReplicaSet key, the largest batch of creations that
	// last succeeded in full: the next sync's slow start begins there
	// instead of at 1 (a failure forgets it), so a large scale-up is not
	// paced by nine sequential round trips every Burst pods.
	mu     sync.Mutex
	proven map[string]int
}

// New returns the controller with its handlers registered on the
// informers. Build one per leadership term: Run works once.
func New(cfg Config) *Controller {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.NameSuffix == nil {
		cfg.NameSuffix = randomSuffix
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Recorder == nil {
		cfg.Recorder = reconcile.NopRecorder{}
	}
	cfg.Queue.Clock = cfg.Clock
	c := &Controller{cfg: cfg, exp: reconcile.NewExpectations(cfg.Clock, 0), log: cfg.Logger.With("controller", "replicaset")}
	c.ctrl = reconcile.NewController(reconcile.ControllerConfig{
		Name: "replicaset", Sync: c.sync, Workers: cfg.Workers,
		WaitFor: []*reconcile.Informer{cfg.ReplicaSets, cfg.Pods},
		Queue:   cfg.Queue, Logger: cfg.Logger,
	})
	cfg.Pods.AddIndex(reconcile.IndexControllerUID, reconcile.ControllerUIDIndex)
	cfg.ReplicaSets.AddHandler(reconcile.Handler{
		OnAdd: func(obj apis.Object) { c.ctrl.Enqueue(reconcile.Key(obj)) },
		OnUpdate: func(old, obj apis.Object) {
			if old.GetGeneration() == obj.GetGeneration() && (old.GetDeletionTimestamp() == nil) == (obj.GetDeletionTimestamp() == nil) {
				// A status write (most often this controller's own):
				// syncing at once for each would chase the counts.
				c.enqueueCount(reconcile.Key(obj))
				return
			}
			c.ctrl.Enqueue(reconcile.Key(obj))
		},
		OnDelete: func(obj apis.Object) { c.ctrl.Enqueue(reconcile.Key(obj)) },
	})
	cfg.Pods.AddHandler(reconcile.Handler{OnAdd: c.podAdded, OnUpdate: c.podUpdated, OnDelete: c.podDeleted})
	return c
}

// Run syncs ReplicaSets until ctx ends; the informers must be running.
func (c *Controller) Run(ctx context.Context) error { return c.ctrl.Run(ctx) }

// Queue is the controller's work queue (for tests and metrics).
func (c *Controller) Queue() *queue.Queue { return c.ctrl.Queue() }

const suffixAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomSuffix() string {
	b := make([]byte, 5)
	for i := range b {
		b[i] = suffixAlphabet[rand.IntN(len(suffixAlphabet))]
	}
	return string(b)
}

// owner returns the key of the cached ReplicaSet that controls pod.
func (c *Controller) owner(pod metav1.Object) (string, bool) {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return "", false
	}
	rs, ok := c.cfg.ReplicaSets.Get(pod.GetNamespace(), ref.Name)
	if !ok || rs.GetUID() != ref.UID {
		return "", false
	}
	return reconcile.Key(rs), true
}

// enqueueMatching enqueues the ReplicaSets that could adopt an orphan pod.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	for _, rs := range reconcile.As[*appsv1.ReplicaSet](c.cfg.ReplicaSets.ByIndex(reconcile.IndexNamespace, pod.Namespace)) {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		c.ctrl.Enqueue(reconcile.Key(rs))
	}
}

func (c *Controller) podAdded(obj apis.Object) {
	pod := obj.(*corev1.Pod)
	key, owned := c.owner(pod)
	if !owned {
		if metav1.GetControllerOfNoCopy(pod) == nil {
			c.enqueueMatching(pod)
		}
		return
	}
	c.exp.CreationObserved(key, reconcile.Key(pod))
	if pod.DeletionTimestamp != nil {
		c.exp.DeletionObserved(key, reconcile.Key(pod))
	}
	if c.exp.Satisfied(key) {
		c.ctrl.Enqueue(key)
	} else {
		c.enqueueCount(key) // more to come: no sync may act before they are seen
	}
}

// enqueueCount syncs key after StatusBatch: for changes that can only
// move the counts in its status.
func (c *Controller) enqueueCount(key string) {
	c.ctrl.Queue().AddAfter(key, c.cfg.StatusBatch)
}

func (c *Controller) podUpdated(oldObj, obj apis.Object) {
	old, pod := oldObj.(*corev1.Pod), obj.(*corev1.Pod)
	oldKey, wasOwned := c.owner(old)
	key, owned := c.owner(pod)
	if wasOwned && (!owned || oldKey != key) {
		c.ctrl.Enqueue(oldKey) // released or taken over: the old owner recounts
	}
	if owned {
		if pod.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
			c.exp.DeletionObserved(key, reconcile.Key(pod))
		}
		if wasOwned && oldKey == key && (pod.DeletionTimestamp == nil) == (old.DeletionTimestamp == nil) &&
			isActive(pod) == isActive(old) && labels.Equals(pod.Labels, old.Labels) {
			c.enqueueCount(key) // readiness or status: counted in status only
		} else {
			c.ctrl.Enqueue(key)
		}
		return
	}
	if metav1.GetControllerOfNoCopy(pod) == nil {
		c.enqueueMatching(pod)
	}
}

func (c *Controller) podDeleted(obj apis.Object) {
	pod := obj.(*corev1.Pod)
	key, owned := c.owner(pod)
	if !owned {
		return
	}
	c.exp.CreationObserved(key, reconcile.Key(pod)) // in case its add was never seen
	c.exp.DeletionObserved(key, reconcile.Key(pod))
	c.ctrl.Enqueue(key)
}
