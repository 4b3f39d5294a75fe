package reconcile

import (
	"context"
	"log/slog"
	"sync"

	"github.com/skiffhq/skiff/reconcile/queue"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// SyncFunc makes the world match what the object of key asks for. It is
// level-triggered: it reads everything it needs from caches, whatever event
// woke it, so running it again is always safe. An error retries the key
// after its backoff.
type SyncFunc func(ctx context.Context, key string) error

// ControllerConfig configures a Controller.
type ControllerConfig struct {
	// Name names the controller in logs ("replicaset").
	Name string
	Sync SyncFunc
	// Workers is how many keys are synced at once (never the same key
	// twice); default 1.
	Workers int
	// WaitFor are the informers whose first list must be cached before any
	// sync runs: a sync on a half-filled cache would act on a wrong world.
	WaitFor []*Informer
	Queue   queue.Config
	Logger  *slog.Logger
}

// Controller feeds the keys its handlers enqueue to Sync, Workers at a
// time: success forgets the key's failures, an error adds it back after
// its backoff.
type Controller struct {
	cfg   ControllerConfig
	queue *queue.Queue
	log   *slog.Logger
}

// NewController returns a controller; its queue takes keys at once, so
// handlers can be registered before Run.
func NewController(cfg ControllerConfig) *Controller {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Controller{cfg: cfg, queue: queue.New(cfg.Queue), log: cfg.Logger.With("controller", cfg.Name)}
}

// Queue is the controller's work queue.
func (c *Controller) Queue() *queue.Queue { return c.queue }

// Enqueue adds key; handlers call it.
func (c *Controller) Enqueue(key string) { c.queue.Add(key) }

// Run waits for the informers, then syncs until ctx ends. It returns nil
// once every worker has finished its current key. A Controller runs once:
// its queue is shut down when Run returns.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if !WaitForSync(ctx, c.cfg.WaitFor...) {
		return nil
	}
	c.log.Info("started", "workers", c.cfg.Workers)
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	c.log.Info("stopped")
	return nil
}

// processNext syncs one key; false once the queue is shut down.
func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	err := c.cfg.Sync(ctx, key)
	if err == nil {
		c.queue.Forget(key)
		return true
	}
	if ctx.Err() != nil {
		return true // stopping: the next leader starts over
	}
	retries := c.queue.NumRequeues(key)
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		c.log.Debug("sync raced another write; retrying", "key", key, "retries", retries, "err", err)
	} else {
		c.log.Warn("sync failed; retrying", "key", key, "retries", retries, "err", err)
	}
	c.queue.AddRateLimited(key)
	return true
}
