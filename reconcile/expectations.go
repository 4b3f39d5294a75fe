package reconcile

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// DefaultExpectationsTTL is how long unobserved expectations hold a
// controller back before they are given up (a lost watch event must not
// stop a controller for good).
const DefaultExpectationsTTL = 5 * time.Minute

// Expectations remember, per controller key, the objects a controller
// created or deleted that its cache does not show yet. While any are
// pending the controller must not decide how many objects to create or
// delete: it would count from a cache that is behind its own writes and
// repeat them. Record expectations before writing; lower them in event
// handlers when the cache shows the change, and at once when a write
// fails.
type Expectations struct {
	clock clock.PassiveClock
	ttl   time.Duration

	mu      sync.Mutex
	pending map[string]*expected
}

type expected struct {
	creates, deletes map[string]struct{}
	since            time.Time
}

// NewExpectations returns empty expectations; ttl <= 0 means
// DefaultExpectationsTTL.
func NewExpectations(clk clock.PassiveClock, ttl time.Duration) *Expectations {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if ttl <= 0 {
		ttl = DefaultExpectationsTTL
	}
	return &Expectations{clock: clk, ttl: ttl, pending: map[string]*expected{}}
}

func (e *Expectations) entry(owner string) *expected {
	x := e.pending[owner]
	if x == nil {
		x = &expected{creates: map[string]struct{}{}, deletes: map[string]struct{}{}}
		e.pending[owner] = x
	}
	x.since = e.clock.Now()
	return x
}

// ExpectCreations records that owner is creating the objects of keys.
func (e *Expectations) ExpectCreations(owner string, keys ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.entry(owner)
	for _, k := range keys {
		x.creates[k] = struct{}{}
	}
}

// ExpectDeletions records that owner is deleting the objects of keys.
func (e *Expectations) ExpectDeletions(owner string, keys ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.entry(owner)
	for _, k := range keys {
		x.deletes[k] = struct{}{}
	}
}

// CreationObserved: the cache shows the object of key (or its creation
// failed).
func (e *Expectations) CreationObserved(owner, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.pending[owner]; x != nil {
		delete(x.creates, key)
		e.tidy(owner, x)
	}
}

// DeletionObserved: the cache shows the object of key gone or being
// deleted (or its deletion failed).
func (e *Expectations) DeletionObserved(owner, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.pending[owner]; x != nil {
		delete(x.deletes, key)
		e.tidy(owner, x)
	}
}

func (e *Expectations) tidy(owner string, x *expected) {
	if len(x.creates) == 0 && len(x.deletes) == 0 {
		delete(e.pending, owner)
	}
}

// Satisfied reports whether owner has nothing pending, or only
// expectations older than the TTL (which it then forgets).
func (e *Expectations) Satisfied(owner string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.pending[owner]
	if x == nil {
		return true
	}
	if e.clock.Since(x.since) >= e.ttl {
		delete(e.pending, owner)
		return true
	}
	return false
}

// Pending returns how many creations and deletions owner awaits.
func (e *Expectations) Pending(owner string) (creates, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.pending[owner]; x != nil {
		return len(x.creates), len(x.deletes)
	}
	return 0, 0
}

// Forget drops owner's expectations (the owner is gone).
func (e *Expectations) Forget(owner string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pending, owner)
}
