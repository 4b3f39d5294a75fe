package reconciletest

import (
	"context"
	"strings"
	"sync"

	"github.com/skiffhq/skiff/apis"
)

// Recorder keeps events as "Type Reason Message" lines.
type Recorder struct {
	mu     sync.Mutex
	events []string
	reason []string
}

// Event implements reconcile.Recorder.
func (r *Recorder) Event(_ context.Context, _ apis.Object, typ, reason, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, typ+" "+reason+" "+msg)
	r.reason = append(r.reason, reason)
}

// Has reports whether an event "Type Reason Message" was recorded.
func (r *Recorder) Has(line string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e == line {
			return true
		}
	}
	return false
}

// Count returns how many events had reason.
func (r *Recorder) Count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.reason {
		if x == reason {
			n++
		}
	}
	return n
}

// String lists the events, for failure messages.
func (r *Recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.events, "\n")
}
