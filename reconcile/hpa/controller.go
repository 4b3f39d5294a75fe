package hpa

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/queue"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// Name names the controller in logs and events.
const Name = "horizontal-pod-autoscaler"

// DefaultSyncPeriod is how often each autoscaler is evaluated
// (Kubernetes' --horizontal-pod-autoscaler-sync-period).
const DefaultSyncPeriod = 15 * time.Second

// Metrics gives the pods' current use: per pod name in a namespace, the
// sum over its containers (cpu in millicores, memory in bytes).
type Metrics interface {
	PodUsage(ctx context.Context, namespace string) (map[string]corev1.ResourceList, error)
}

// Config configures the controller.
type Config struct {
	Autoscalers, Deployments, ReplicaSets, Pods *reconcile.Informer
	Metrics                                     Metrics
	Writer                                      reconcile.Writer
	Recorder                                    reconcile.Recorder
	Clock                                       clock.WithDelayedExecution
	// SyncPeriod is how often each autoscaler is evaluated; default 15 s.
	SyncPeriod time.Duration
	// Tolerance; default DefaultTolerance.
	Tolerance float64
	Queue     queue.Config
	Logger    *slog.Logger
}

// Controller is the autoscaler controller; a leader loop.
type Controller struct {
	cfg  Config
	ctrl *reconcile.Controller
	log  *slog.Logger

	mu      sync.Mutex
	history map[string]*history // by autoscaler key
}

// New returns the controller with its handlers registered on the
// informers. Build one per leadership term: Run works once.
func New(cfg Config) *Controller {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = DefaultSyncPeriod
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Recorder == nil {
		cfg.Recorder = reconcile.NopRecorder{}
	}
	cfg.Queue.Clock = cfg.Clock
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "hpa"), history: map[string]*history{}}
	c.ctrl = reconcile.NewController(reconcile.ControllerConfig{
		Name: "hpa", Sync: c.sync, Workers: 2,
		WaitFor: []*reconcile.Informer{cfg.Autoscalers, cfg.Deployments, cfg.ReplicaSets, cfg.Pods},
		Queue:   cfg.Queue, Logger: cfg.Logger,
	})
	enqueue := func(obj apis.Object) { c.ctrl.Enqueue(reconcile.Key(obj)) }
	cfg.Autoscalers.AddHandler(reconcile.Handler{
		OnAdd: enqueue,
		OnUpdate: func(old, obj apis.Object) {
			// Its own status writes come back here: only a new spec
			// brings the next evaluation forward.
			if old.GetGeneration() != obj.GetGeneration() {
				enqueue(obj)
			}
		},
		OnDelete: func(obj apis.Object) {
			c.mu.Lock()
			delete(c.history, reconcile.Key(obj))
			c.mu.Unlock()
		},
	})
	return c
}

// Run evaluates autoscalers until ctx ends; the informers must be running.
func (c *Controller) Run(ctx context.Context) error { return c.ctrl.Run(ctx) }

// Queue is the controller's work queue (for tests and metrics).
func (c *Controller) Queue() *queue.Queue { return c.ctrl.Queue() }

func (c *Controller) historyOf(key string) *history {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.history[key]
	if h == nil {
		h = &history{}
		c.history[key] = h
	}
	return h
}
