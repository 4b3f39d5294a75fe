package volume

import (
	"context"
	"log/slog"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/queue"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/utils/clock"
)

// Name names the controller in logs and events.
const Name = "persistentvolume-controller"

// Config configures the controller.
type Config struct {
	Claims, Volumes, Classes, Nodes, Pods *reconcile.Informer
	Writer                                reconcile.Writer
	// Reader confirms that a claim has let go of a volume before the
	// volume loses its protection or is reclaimed: the claims cache may
	// lag the volumes cache.
	Reader   storage.Reader
	Recorder reconcile.Recorder
	// Clock drives the retry backoff.
	Clock  clock.WithDelayedExecution
	Queue  queue.Config
	Logger *slog.Logger
}

// Controller binds, provisions and reclaims; a leader loop.
type Controller struct {
	cfg     Config
	claims  *reconcile.Controller
	volumes *reconcile.Controller
	log     *slog.Logger
}

// New returns the controller with its handlers registered on the
// informers. Build one per leadership term: Run works once.
func New(cfg Config) *Controller {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Queue.Clock = cfg.Clock
	c := &Controller{cfg: cfg, log: cfg.Logger.With("controller", "volume")}
	all := []*reconcile.Informer{cfg.Claims, cfg.Volumes, cfg.Classes, cfg.Nodes, cfg.Pods}
	c.claims = reconcile.NewController(reconcile.ControllerConfig{
		Name: "volume-claims", Sync: c.syncClaim, Workers: 2, WaitFor: all, Queue: cfg.Queue, Logger: cfg.Logger,
	})
	c.volumes = reconcile.NewController(reconcile.ControllerConfig{
		Name: "volume-volumes", Sync: c.syncVolume, Workers: 2, WaitFor: all, Queue: cfg.Queue, Logger: cfg.Logger,
	})
	claimChanged := func(obj apis.Object) {
		pvc := obj.(*corev1.PersistentVolumeClaim)
		c.claims.Enqueue(reconcile.Key(pvc))
		if pvc.Spec.VolumeName != "" {
			c.volumes.Enqueue(pvc.Spec.VolumeName)
		}
		// A volume reserved for it (claimRef) but not yet named by it.
		for _, v := range cfg.Volumes.ByIndex(indexClaim, reconcile.Key(pvc)) {
			c.volumes.Enqueue(reconcile.Key(v))
		}
	}
	cfg.Volumes.AddIndex(indexClaim, func(obj apis.Object) []string {
		if ref := obj.(*corev1.PersistentVolume).Spec.ClaimRef; ref != nil {
			return []string{ref.Namespace + "/" + ref.Name}
		}
		return nil
	})
	cfg.Claims.AddHandler(reconcile.Handler{
		OnAdd: claimChanged, OnUpdate: func(_, obj apis.Object) { claimChanged(obj) }, OnDelete: claimChanged,
	})
	volumeChanged := func(obj apis.Object) {
		pv := obj.(*corev1.PersistentVolume)
		c.volumes.Enqueue(reconcile.Key(pv))
		if ref := pv.Spec.ClaimRef; ref != nil {
			c.claims.Enqueue(ref.Namespace + "/" + ref.Name)
		}
		if pv.Spec.ClaimRef == nil {
			// A volume became free: claims of its class may take it.
			c.enqueuePendingClaims(pv.Spec.StorageClassName)
		}
	}
	cfg.Volumes.AddHandler(reconcile.Handler{
		OnAdd: volumeChanged, OnUpdate: func(_, obj apis.Object) { volumeChanged(obj) }, OnDelete: volumeChanged,
	})
	cfg.Classes.AddHandler(reconcile.Handler{
		OnAdd: func(obj apis.Object) { c.enqueuePendingClaims(obj.(*storagev1.StorageClass).Name) },
	})
	// A pod that ends or goes may free a claim being deleted.
	podChanged := func(obj apis.Object) {
		pod := obj.(*corev1.Pod)
		for _, name := range apis.PodClaims(pod) {
			c.claims.Enqueue(pod.Namespace + "/" + name)
		}
	}
	cfg.Pods.AddIndex(indexClaim, func(obj apis.Object) []string {
		pod := obj.(*corev1.Pod)
		var keys []string
		for _, name := range apis.PodClaims(pod) {
			keys = append(keys, pod.Namespace+"/"+name)
		}
		return keys
	})
	cfg.Pods.AddHandler(reconcile.Handler{
		OnUpdate: func(old, obj apis.Object) {
			if podUsesClaims(old.(*corev1.Pod)) != podUsesClaims(obj.(*corev1.Pod)) {
				podChanged(obj)
			}
		},
		OnDelete: podChanged,
	})
	return c
}

// indexClaim indexes volumes by the claim they are reserved for and pods
// by the claims they use ("namespace/name").
const indexClaim = "claim"

func (c *Controller) enqueuePendingClaims(class string) {
	for _, obj := range c.cfg.Claims.List() {
		if pvc := obj.(*corev1.PersistentVolumeClaim); pvc.Spec.VolumeName == "" && apis.ClaimClass(pvc) == class {
			c.claims.Enqueue(reconcile.Key(pvc))
		}
	}
}

// Run binds and reclaims until ctx ends; the informers must be running.
func (c *Controller) Run(ctx context.Context) error {
	return reconcile.RunAll(ctx, c.log, reconcile.Name("claims", c.claims), reconcile.Name("volumes", c.volumes))
}

// podUsesClaims reports whether a pod holds its claims: it has some and
// has not finished.
func podUsesClaims(p *corev1.Pod) bool {
	return len(apis.PodClaims(p)) > 0 && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}
