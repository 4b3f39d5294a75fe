package endpoints

import (
	"context"
	"log/slog"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/queue"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
)

// Name names the controller in logs.
const Name = "endpoints-controller"

// DefaultWorkers is Config.Workers when zero.
const DefaultWorkers = 4

// Config configures the controller.
type Config struct {
	Services, Pods, Endpoints *reconcile.Informer
	Writer                    reconcile.Writer
	// Clock drives the retry backoff.
	Clock   clock.WithDelayedExecution
	Workers int
	Queue   queue.Config
	Logger  *slog.Logger
}

// Controller is the Endpoints controller; a leader loop.
type Controller struct {
	cfg  Config
	ctrl *reconcile.Controller
	log  *slog.Logger
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Queue.Clock = cfg.Clock
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "endpoints")}
	c.ctrl = reconcile.NewController(reconcile.ControllerConfig{
		Name: "endpoints", Sync: c.sync, Workers: cfg.Workers,
		WaitFor: []*reconcile.Informer{cfg.Services, cfg.Pods, cfg.Endpoints},
		Queue:   cfg.Queue, Logger: cfg.Logger,
	})
	enqueue := func(obj apis.Object) { c.ctrl.Enqueue(reconcile.Key(obj)) }
	cfg.Services.AddHandler(reconcile.Handler{
		OnAdd: enqueue, OnUpdate: func(_, obj apis.Object) { enqueue(obj) }, OnDelete: enqueue,
	})
	// An Endpoints object changed or deleted by someone else is put back.
	// One arriving in the cache is synced again too: a sync that ran
	// before the cache had it found its create refused as a duplicate,
	// and may have seen fewer pods than there now are.
	cfg.Endpoints.AddHandler(reconcile.Handler{
		OnAdd: enqueue, OnUpdate: func(_, obj apis.Object) { enqueue(obj) }, OnDelete: enqueue,
	})
	cfg.Pods.AddHandler(reconcile.Handler{
		OnAdd: func(obj apis.Object) { c.podChanged(nil, obj.(*corev1.Pod)) },
		OnUpdate: func(old, obj apis.Object) {
			if relevantChange(old.(*corev1.Pod), obj.(*corev1.Pod)) {
				c.podChanged(old.(*corev1.Pod), obj.(*corev1.Pod))
			}
		},
		OnDelete: func(obj apis.Object) { c.podChanged(nil, obj.(*corev1.Pod)) },
	})
	return c
}

// Run syncs Endpoints until ctx ends; the informers must be running.
func (c *Controller) Run(ctx context.Context) error { return c.ctrl.Run(ctx) }

// Queue is the controller's work queue (for tests and metrics).
func (c *Controller) Queue() *queue.Queue { return c.ctrl.Queue() }

// podChanged enqueues the Services whose selector matches the pod, before
// or after the change.
func (c *Controller) podChanged(old, pod *corev1.Pod) {
	for _, obj := range c.cfg.Services.ByIndex(reconcile.IndexNamespace, pod.Namespace) {
		svc := obj.(*corev1.Service)
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		if sel.Matches(labels.Set(pod.Labels)) || old != nil && sel.Matches(labels.Set(old.Labels)) {
			c.ctrl.Enqueue(reconcile.Key(svc))
		}
	}
}

// relevantChange reports whether a pod update can change an Endpoints
// object: its address, readiness, labels, ports, node or deletion.
func relevantChange(old, pod *corev1.Pod) bool {
	if old.Status.PodIP != pod.Status.PodIP || old.Status.Phase != pod.Status.Phase ||
		apis.PodReady(old) != apis.PodReady(pod) || old.Spec.NodeName != pod.Spec.NodeName ||
		(old.DeletionTimestamp == nil) != (pod.DeletionTimestamp == nil) ||
		!labels.Equals(old.Labels, pod.Labels) || old.Spec.Hostname != pod.Spec.Hostname || old.Spec.Subdomain != pod.Spec.Subdomain {
		return true
	}
	// Containers (and their ports) never change on a live pod; a
	// recreated pod arrives as a delete and an add, or a new UID.
	return old.UID != pod.UID
}
