package queue

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Defaults of Config.
const (
	DefaultBaseDelay = 5 * time.Millisecond
	DefaultMaxDelay  = 60 * time.Second
)

// Config configures a Queue. The zero value is usable.
type Config struct {
	// BaseDelay is the first retry's delay; each further failure of the
	// same key doubles it, up to MaxDelay.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// Clock drives delayed adds; a fake clock makes tests exact.
	Clock clock.WithDelayedExecution
}

// Queue is a rate-limited work queue of keys. It is safe for concurrent use.
// After ShutDown it hands out nothing more; it cannot be restarted.
type Queue struct {
	base, max time.Duration
	clock     clock.WithDelayedExecution

	mu   sync.Mutex
	cond *sync.Cond
	// ready holds keys in the order they became ready; each at most once.
	ready []string
	// dirty holds every key that needs processing: those in ready, and
	// those added again while being processed.
	dirty map[string]struct{}
	// processing holds the keys handed out and not yet Done.
	processing map[string]struct{}
	// waiting holds, per delayed key, its earliest pending delay.
	waiting  map[string]*delay
	failures map[string]int
	shutdown bool
}

// New returns an empty queue.
func New(cfg Config) *Queue {
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = DefaultBaseDelay
	}
	if cfg.MaxDelay < cfg.BaseDelay {
		cfg.MaxDelay = max(DefaultMaxDelay, cfg.BaseDelay)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	q := &Queue{
		base: cfg.BaseDelay, max: cfg.MaxDelay, clock: cfg.Clock,
		dirty:      map[string]struct{}{},
		processing: map[string]struct{}{},
		waiting:    map[string]*delay{},
		failures:   map[string]int{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add marks key as needing processing. A key already waiting is not added
// twice; a key being processed is handed out again after its Done.
func (q *Queue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *Queue) addLocked(key string) {
	if q.shutdown {
		return
	}
	if _, ok := q.dirty[key]; ok {
		return
	}
	q.dirty[key] = struct{}{}
	if _, ok := q.processing[key]; ok {
		return
	}
	q.ready = append(q.ready, key)
	q.cond.Signal()
}

// Get blocks until a key is ready and hands it out; the caller must call
// Done with it. shutdown is true (and key empty) once the queue is shut
// down: keys still waiting are dropped, because a stopped controller's
// successor lists everything again.
func (q *Queue) Get() (key string, shutdown bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.ready) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return "", true
	}
	key = q.ready[0]
	q.ready[0] = ""
	q.ready = q.ready[1:]
	q.processing[key] = struct{}{}
	delete(q.dirty, key)
	return key, false
}

// Done ends the processing of key. If it was added meanwhile it becomes
// ready again.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if _, again := q.dirty[key]; again && !q.shutdown {
		q.ready = append(q.ready, key)
		q.cond.Signal()
	}
}

// AddAfter adds key once d has passed. Of several pending delays for one
// key the earliest wins; a key already ready stays ready.
//
// The clock is never called with the queue's lock held: a fake clock runs
// timer callbacks while holding its own lock, and those take the queue's.
func (q *Queue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	dl := &delay{at: q.clock.Now().Add(d)}
	q.mu.Lock()
	if prev, ok := q.waiting[key]; q.shutdown || ok && !prev.at.After(dl.at) {
		q.mu.Unlock()
		return
	}
	var superseded clock.Timer
	if prev := q.waiting[key]; prev != nil {
		superseded = prev.timer
	}
	q.waiting[key] = dl
	q.mu.Unlock()
	if superseded != nil {
		superseded.Stop()
	}

	t := q.clock.AfterFunc(d, func() { q.fire(key, dl) })
	q.mu.Lock()
	current := q.waiting[key] == dl
	if current {
		dl.timer = t
	}
	q.mu.Unlock()
	if !current { // fired, superseded or shut down meanwhile
		t.Stop()
	}
}

// delay is a key's pending delayed add.
type delay struct {
	at    time.Time
	timer clock.Timer // nil until AfterFunc returned
}

// fire makes a delayed key ready, unless its delay was superseded.
func (q *Queue) fire(key string, dl *delay) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.waiting[key] != dl {
		return
	}
	delete(q.waiting, key)
	q.addLocked(key)
}

// AddRateLimited adds key after its backoff: BaseDelay doubled for every
// failure since its last Forget, at most MaxDelay.
func (q *Queue) AddRateLimited(key string) {
	q.mu.Lock()
	n := q.failures[key]
	q.failures[key] = n + 1
	q.mu.Unlock()
	q.AddAfter(key, q.backoff(n))
}

func (q *Queue) backoff(failures int) time.Duration {
	d := q.base
	for i := 0; i < failures && d < q.max; i++ {
		d *= 2
	}
	return min(d, q.max)
}

// Forget clears key's failure count: its next failure starts from
// BaseDelay again. It does not take the key out of the queue.
func (q *Queue) Forget(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, key)
}

// NumRequeues says how many failures key has had since its last Forget.
func (q *Queue) NumRequeues(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failures[key]
}

// Idle reports whether no key is ready, being processed or due again
// after processing (delayed keys may be waiting).
func (q *Queue) Idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ready) == 0 && len(q.dirty) == 0 && len(q.processing) == 0
}

// Len is the number of keys ready to be handed out.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ready)
}

// ShutDown stops the queue: Get returns shutdown at once in every worker,
// delayed keys are dropped and further adds are ignored.
func (q *Queue) ShutDown() {
	q.mu.Lock()
	q.shutdown = true
	var timers []clock.Timer
	for _, dl := range q.waiting {
		if dl.timer != nil {
			timers = append(timers, dl.timer)
		}
	}
	q.waiting = map[string]*delay{}
	q.ready = nil
	q.cond.Broadcast()
	q.mu.Unlock()
	for _, t := range timers {
		t.Stop()
	}
}

// ShuttingDown reports whether ShutDown was called.
func (q *Queue) ShuttingDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shutdown
}
