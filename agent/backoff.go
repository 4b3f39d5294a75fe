package agent

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Crash-loop backoff, as the kubelet does it: the first restart is
// immediate, then 10 s doubling to 5 min; a container that ran for 10 min
// starts over.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

type backoffEntry struct {
	delay time.Duration // the next wait; 0 = none yet
	until time.Time     // no restart before this
	seen  string        // the failure last recorded (a container ID)
}

// backoffs tracks the restart delay of each container (and image pull).
type backoffs struct {
	clock clock.Clock
	mu    sync.Mutex
	m     map[string]*backoffEntry
}

func newBackoffs(c clock.Clock) *backoffs {
	return &backoffs{clock: c, m: map[string]*backoffEntry{}}
}

// wait returns how long key must still wait before its next attempt.
func (b *backoffs) wait(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[key]
	if !ok {
		return 0
	}
	if d := e.until.Sub(b.clock.Now()); d > 0 {
		return d
	}
	return 0
}

// next records a failure (a crash or a failed pull) that happened at
// since and returns the delay now in force.
func (b *backoffs) next(key string, since time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[key]
	if !ok {
		e = &backoffEntry{}
		b.m[key] = e
	}
	switch {
	case e.delay == 0:
		e.delay = backoffInitial
		e.until = since // the first retry is immediate
		return 0
	default:
		e.until = since.Add(e.delay)
		d := e.delay
		if e.delay *= 2; e.delay > backoffMax {
			e.delay = backoffMax
		}
		return d
	}
}

// nextPull records a failed image pull at since and returns the wait now
// in force: unlike after a crash, the first retry waits too (the kubelet's
// ImagePullBackOff).
func (b *backoffs) nextPull(key string, since time.Time) time.Duration {
	if d := b.next(key, since); d > 0 {
		return d
	}
	return b.next(key, since)
}

// record notes the failure named id (a container's exit at since) once,
// however often a sync looks at it, and returns how long is left to wait.
func (b *backoffs) record(key, id string, since time.Time) time.Duration {
	b.mu.Lock()
	e, ok := b.m[key]
	seen := ok && e.seen == id
	b.mu.Unlock()
	if !seen {
		b.next(key, since)
		b.mu.Lock()
		b.m[key].seen = id
		b.mu.Unlock()
	}
	return b.wait(key)
}

// reset forgets key's failures (it ran long enough, or succeeded).
func (b *backoffs) reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
}

// forgetPrefix drops every key of a pod.
func (b *backoffs) forgetPrefix(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.m {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(b.m, k)
		}
	}
}
