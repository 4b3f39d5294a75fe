package deployment

import (
	"context"
	"log/slog"

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
const Name = "deployment-controller"

// DefaultWorkers is Config.Workers' default.
const DefaultWorkers = 5

// Config configures the controller.
type Config struct {
	Deployments, ReplicaSets, Pods *reconcile.Informer
	Writer                         reconcile.Writer
	// Recorder records ScalingReplicaSet events about the Deployment;
	// optional.
	Recorder reconcile.Recorder
	// Clock drives the progress deadline and the retry backoff.
	Clock   clock.WithDelayedExecution
	Workers int
	// Queue tunes the retry backoff (its Clock is Clock).
	Queue  queue.Config
	Logger *slog.Logger
}

// Controller is the Deployment controller; a leader loop.
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
	if cfg.Recorder == nil {
		cfg.Recorder = reconcile.NopRecorder{}
	}
	cfg.Queue.Clock = cfg.Clock
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "deployment")}
	c.ctrl = reconcile.NewController(reconcile.ControllerConfig{
		Name: "deployment", Sync: c.sync, Workers: cfg.Workers,
		WaitFor: []*reconcile.Informer{cfg.Deployments, cfg.ReplicaSets, cfg.Pods},
		Queue:   cfg.Queue, Logger: cfg.Logger,
	})
	cfg.ReplicaSets.AddIndex(reconcile.IndexControllerUID, reconcile.ControllerUIDIndex)
	cfg.Pods.AddIndex(reconcile.IndexControllerUID, reconcile.ControllerUIDIndex)
	cfg.Deployments.AddHandler(reconcile.Handler{
		OnAdd:    func(obj apis.Object) { c.ctrl.Enqueue(reconcile.Key(obj)) },
		OnUpdate: func(_, obj apis.Object) { c.ctrl.Enqueue(reconcile.Key(obj)) },
		OnDelete: func(obj apis.Object) { c.ctrl.Enqueue(reconcile.Key(obj)) },
	})
	cfg.ReplicaSets.AddHandler(reconcile.Handler{
		OnAdd:    c.rsChanged,
		OnUpdate: func(old, obj apis.Object) { c.rsChanged(old); c.rsChanged(obj) },
		OnDelete: c.rsChanged,
	})
	// A pod's end matters to Recreate (old pods must be gone) and to the
	// history cleanup (an old ReplicaSet must have no pods left).
	cfg.Pods.AddHandler(reconcile.Handler{OnDelete: c.podDeleted})
	return c
}

// Run syncs Deployments until ctx ends; the informers must be running.
func (c *Controller) Run(ctx context.Context) error { return c.ctrl.Run(ctx) }

// Queue is the controller's work queue (for tests and metrics).
func (c *Controller) Queue() *queue.Queue { return c.ctrl.Queue() }

// owner returns the key of the cached Deployment that controls rs.
func (c *Controller) owner(rs metav1.Object) (string, bool) {
	ref := metav1.GetControllerOfNoCopy(rs)
	if ref == nil || ref.Kind != "Deployment" {
		return "", false
	}
	d, ok := c.cfg.Deployments.Get(rs.GetNamespace(), ref.Name)
	if !ok || d.GetUID() != ref.UID {
		return "", false
	}
	return reconcile.Key(d), true
}

// rsChanged enqueues the Deployment controlling rs or, for an orphan,
// every Deployment of its namespace that could adopt it.
func (c *Controller) rsChanged(obj apis.Object) {
	rs := obj.(*appsv1.ReplicaSet)
	if key, ok := c.owner(rs); ok {
		c.ctrl.Enqueue(key)
		return
	}
	if metav1.GetControllerOfNoCopy(rs) != nil {
		return
	}
	for _, d := range reconcile.As[*appsv1.Deployment](c.cfg.Deployments.ByIndex(reconcile.IndexNamespace, rs.Namespace)) {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		c.ctrl.Enqueue(reconcile.Key(d))
	}
}

// podDeleted enqueues the Deployment above the pod's ReplicaSet.
func (c *Controller) podDeleted(obj apis.Object) {
	pod := obj.(*corev1.Pod)
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, ok := c.cfg.ReplicaSets.Get(pod.Namespace, ref.Name)
	if !ok || rs.GetUID() != ref.UID {
		return
	}
	if key, ok := c.owner(rs); ok {
		c.ctrl.Enqueue(key)
	}
}
