package eventttl

import (
	"context"
	"log/slog"
	"time"

	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// Name names the loop.
const Name = "eventttl"

// DefaultTTL is how long an event is kept after it last happened.
const DefaultTTL = time.Hour

// Config configures the collector.
type Config struct {
	// Events is the shared informer of Events.
	Events *reconcile.Informer
	Writer reconcile.Writer
	Clock  clock.Clock
	// TTL defaults to an hour; Interval (how often to look) to a minute.
	TTL, Interval time.Duration
	Logger        *slog.Logger
}

// Collector deletes expired events.
type Collector struct{ cfg Config }

// New returns a collector.
func New(cfg Config) *Collector {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Collector{cfg: cfg}
}

// Run sweeps every Interval until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	if !reconcile.WaitForSync(ctx, c.cfg.Events) {
		return nil
	}
	for {
		c.Sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-c.cfg.Clock.After(c.cfg.Interval):
		}
	}
}

// Sweep deletes every event last seen more than TTL ago and returns how
// many it deleted.
func (c *Collector) Sweep(ctx context.Context) int {
	cutoff := c.cfg.Clock.Now().Add(-c.cfg.TTL)
	n := 0
	for _, o := range c.cfg.Events.List() {
		ev, ok := o.(*corev1.Event)
		if !ok || !lastSeen(ev).Before(cutoff) {
			continue
		}
		err := c.cfg.Writer.Delete(ctx, "Event", ev.Namespace, ev.Name, storage.Preconditions{UID: string(ev.UID)})
		if err != nil {
			c.cfg.Logger.Debug("deleting an expired event", "event", ev.Namespace+"/"+ev.Name, "err", err)
			continue
		}
		n++
	}
	if n > 0 {
		c.cfg.Logger.Info("expired events deleted", "count", n)
	}
	return n
}

// lastSeen is when the event last happened, by the best timestamp it has.
func lastSeen(ev *corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	}
	return ev.CreationTimestamp.Time
}
