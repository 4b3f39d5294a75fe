// Package events decides how the events a component records reach the
// store, as Kubernetes' event correlator does, so that a burst costs a
// handful of writes instead of one per occurrence:
//
//   - a repeat (same object, type, reason, message and source) within
//     RepeatWindow raises the earlier event's count and lastTimestamp;
//   - once an object has had SimilarThreshold distinct messages of one
//     type and reason within the window (a ReplicaSet's "Created pod: …"),
//     the next ones are counted on a single event whose message starts
//     with "(combined from similar events): ";
//   - an event is written at most once per WriteInterval: occurrences in
//     between are counted and written together at the end of it, so the
//     stored count stays exact.
package events

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
)

const (
	// RepeatWindow is how long occurrences count on an earlier event.
	RepeatWindow = 10 * time.Minute
	// SimilarThreshold is how many distinct messages of one object, type
	// and reason are written as events of their own.
	SimilarThreshold = 10
	// WriteInterval is the least time between two writes of one event.
	WriteInterval = time.Second
	// CombinedPrefix starts the message of an event counting similar ones.
	CombinedPrefix = "(combined from similar events): "
)

// Sink writes events to the store.
type Sink interface {
	Create(ctx context.Context, ev *corev1.Event) (*corev1.Event, error)
	// Update replaces ev, as of its resourceVersion.
	Update(ctx context.Context, ev *corev1.Event) (*corev1.Event, error)
}

// Correlator records events through a Sink.
type Correlator struct {
	sink  Sink
	clock clock.WithDelayedExecution
	log   *slog.Logger

	mu        sync.Mutex
	similar   map[string]*similarMessages
	entries   map[string]*entry
	lastSweep time.Time
}

// similarMessages are the distinct messages an aggregation key has had
// since first.
type similarMessages struct {
	first    time.Time
	messages map[string]struct{}
}

// entry is one stored (or to be stored) event.
type entry struct {
	want    *corev1.Event // what the store should hold
	stored  *corev1.Event // what it holds; nil before the first write
	written time.Time     // when the last write began
	timer   clock.Timer   // set while a write waits for the interval
	writing bool
}

// New returns a correlator writing to sink; clk nil is the real clock.
func New(sink Sink, clk clock.WithDelayedExecution, log *slog.Logger) *Correlator {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Correlator{sink: sink, clock: clk, log: log, similar: map[string]*similarMessages{}, entries: map[string]*entry{}}
}

// Record records ev (count 1, timestamps and name set by the caller): as
// a new event, or counted on an earlier one. The first write of an event
// happens before Record returns; later ones may happen after, in the
// background. Failures are logged, never returned: recording events never
// fails the work they describe.
func (c *Correlator) Record(ctx context.Context, ev *corev1.Event) {
	now := c.clock.Now()
	aggKey := aggregationKey(ev)
	c.mu.Lock()
	c.sweep(now)
	sim := c.similar[aggKey]
	if sim == nil || now.Sub(sim.first) >= RepeatWindow {
		sim = &similarMessages{first: now, messages: map[string]struct{}{}}
		c.similar[aggKey] = sim
	}
	key := aggKey + "\x00" + ev.Message
	message := ev.Message
	if _, seen := sim.messages[ev.Message]; !seen && len(sim.messages) >= SimilarThreshold {
		key, message = aggKey+"\x00combined", CombinedPrefix+ev.Message
	} else {
		sim.messages[ev.Message] = struct{}{}
	}
	e := c.entries[key]
	if e != nil && now.Sub(e.want.LastTimestamp.Time) < RepeatWindow {
		e.want.Count++
		e.want.LastTimestamp = metav1.NewTime(now)
		e.want.Message = message
	} else {
		want := ev.DeepCopy()
		want.Message = message
		e = &entry{want: want}
		c.entries[key] = e
	}
	if e.writing || e.timer != nil {
		c.mu.Unlock() // the write under way or waiting takes this one along
		return
	}
	if wait := WriteInterval - now.Sub(e.written); !e.written.IsZero() && wait > 0 {
		e.timer = c.clock.AfterFunc(wait, c.flushLater(ctx, e))
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.write(ctx, e)
}

// flushLater returns the timer function that flushes e. It runs the
// flush on a goroutine of its own because a fake clock calls timer
// functions while holding its lock, and write reads the clock.
func (c *Correlator) flushLater(ctx context.Context, e *entry) func() {
	ctx = context.WithoutCancel(ctx)
	return func() { go c.flush(ctx, e) }
}

// flush writes an entry whose interval has passed.
func (c *Correlator) flush(ctx context.Context, e *entry) {
	c.mu.Lock()
	e.timer = nil
	c.mu.Unlock()
	c.write(ctx, e)
}

// write brings the store up to e.want; occurrences that arrive meanwhile
// are written one interval later.
func (c *Correlator) write(ctx context.Context, e *entry) {
	c.mu.Lock()
	if e.writing {
		c.mu.Unlock()
		return
	}
	e.writing = true
	e.written = c.clock.Now()
	want := e.want.DeepCopy()
	stored := e.stored
	c.mu.Unlock()

	var got *corev1.Event
	var err error
	if stored != nil {
		want.ResourceVersion = stored.ResourceVersion
		want.Name, want.UID = stored.Name, stored.UID
		got, err = c.sink.Update(ctx, want)
		if err != nil {
			// Gone (expired) or changed by someone else: record it anew.
			want.Name = fmt.Sprintf("%s.%x", want.InvolvedObject.Name, c.clock.Now().UnixNano())
			want.ResourceVersion, want.UID = "", ""
			got, err = c.sink.Create(ctx, want)
		}
	} else {
		got, err = c.sink.Create(ctx, want)
	}
	if err != nil && ctx.Err() == nil {
		c.log.Debug("recording an event", "object", want.InvolvedObject.Name, "reason", want.Reason, "err", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	e.writing = false
	if err == nil {
		e.stored = got
	}
	if err == nil && (e.want.Count != want.Count || e.want.Message != want.Message) && e.timer == nil {
		wait := max(WriteInterval-c.clock.Since(e.written), 0)
		e.timer = c.clock.AfterFunc(wait, c.flushLater(ctx, e))
	}
}

// sweep forgets what is older than the window, at most once a minute;
// c.mu must be held.
func (c *Correlator) sweep(now time.Time) {
	if now.Sub(c.lastSweep) < time.Minute {
		return
	}
	c.lastSweep = now
	for k, s := range c.similar {
		if now.Sub(s.first) >= RepeatWindow {
			delete(c.similar, k)
		}
	}
	for k, e := range c.entries {
		if now.Sub(e.want.LastTimestamp.Time) >= RepeatWindow && !e.writing && e.timer == nil {
			delete(c.entries, k)
		}
	}
}

func aggregationKey(ev *corev1.Event) string {
	o := ev.InvolvedObject
	return ev.Source.Component + "\x00" + ev.Source.Host + "\x00" + o.Kind + "\x00" + o.Namespace + "\x00" + o.Name + "\x00" +
		string(o.UID) + "\x00" + ev.Type + "\x00" + ev.Reason
}
