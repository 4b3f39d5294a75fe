package raftfsm

import (
	"sort"
	"sync"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/storage"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// Event is a watch event; the type is shared with the API.
type Event = storage.Event

// Event types.
const (
	Added    = storage.Added
	Modified = storage.Modified
	Deleted  = storage.Deleted
)

// Errors that end a watch (defined with the storage contract).
var (
	ErrTooOld  = storage.ErrTooOld
	ErrTooSlow = storage.ErrTooSlow
	ErrReset   = storage.ErrReset
)

// Filter selects the events a watcher receives.
type Filter struct {
	Kind string
	storage.Selection
	// FieldSet returns an object's selectable fields; needed when Fields
	// is set.
	FieldSet func(apis.Object) fields.Set
}

// Matches reports whether obj passes the filter's namespace and selectors.
func (f *Filter) Matches(obj apis.Object) bool {
	if f.Namespace != "" && obj.GetNamespace() != f.Namespace {
		return false
	}
	if f.Labels != nil && !f.Labels.Empty() && !f.Labels.Matches(labels.Set(obj.GetLabels())) {
		return false
	}
	if f.Fields != nil && !f.Fields.Empty() && !f.Fields.Matches(f.FieldSet(obj)) {
		return false
	}
	return true
}

// translate turns an event into what a watcher with selectors must see: an
// object that starts matching is ADDED, one that stops matching is DELETED.
func (f *Filter) translate(ev Event) (Event, bool) {
	now := f.Matches(ev.Object.Object())
	switch ev.Type {
	case Modified:
		before := ev.Prev != nil && f.Matches(ev.Prev.Object())
		switch {
		case now && before:
			return ev, true
		case now:
			ev.Type = Added
			return ev, true
		case before:
			ev.Type = Deleted
			return ev, true
		}
		return ev, false
	default:
		return ev, now
	}
}

// Watcher receives the events of one watch.
type Watcher struct {
	hub    *Hub
	filter Filter
	from   uint64
	ch     chan Event
	closed bool // guarded by hub.mu
	err    error
}

// Events returns the event channel; it is closed when the watch ends.
func (w *Watcher) Events() <-chan Event { return w.ch }

// Err says why the watch ended: ErrTooSlow, ErrReset, or nil when stopped.
// Only valid after Events() was closed.
func (w *Watcher) Err() error {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	return w.err
}

// Stop ends the watch.
func (w *Watcher) Stop() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	w.hub.end(w, nil)
}

// Hub keeps a bounded history of events and fans them out to watchers.
type Hub struct {
	mu       sync.Mutex
	ring     []Event
	head     int // index of the oldest event
	size     int
	dropped  uint64 // newest revision no longer (or never) in the history
	watchers map[string]map[*Watcher]struct{}
	bufSize  int
}

// NewHub returns a hub keeping up to history events; each watcher may fall
// behind by buffer events before it is cut off.
func NewHub(history, buffer int) *Hub {
	return &Hub{ring: make([]Event, history), watchers: map[string]map[*Watcher]struct{}{}, bufSize: buffer}
}

// Publish records events (in revision order) and hands them to watchers
// without ever blocking.
func (h *Hub) Publish(evs []Event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range evs {
		if h.size == len(h.ring) {
			h.dropped = h.ring[h.head].Revision
			h.ring[h.head] = Event{}
			h.head = (h.head + 1) % len(h.ring)
			h.size--
		}
		h.ring[(h.head+h.size)%len(h.ring)] = ev
		h.size++
		for w := range h.watchers[ev.Kind] {
			if ev.Revision <= w.from {
				continue
			}
			out, ok := w.filter.translate(ev)
			if !ok {
				continue
			}
			select {
			case w.ch <- out:
			default:
				h.end(w, ErrTooSlow)
			}
		}
	}
}

// Watch starts a watcher that receives, in order, the initial events given
// (synthetic ADDED events of a list, possibly none) and then every matching
// event after revision from. It fails with ErrTooOld when events after from
// have already left the history.
func (h *Hub) Watch(filter Filter, from uint64, initial []Event) (*Watcher, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if from < h.dropped {
		return nil, ErrTooOld
	}
	var backlog []Event
	start := sort.Search(h.size, func(i int) bool { return h.ring[(h.head+i)%len(h.ring)].Revision > from })
	for i := start; i < h.size; i++ {
		ev := h.ring[(h.head+i)%len(h.ring)]
		if ev.Kind != filter.Kind {
			continue
		}
		if out, ok := filter.translate(ev); ok {
			backlog = append(backlog, out)
		}
	}
	w := &Watcher{hub: h, filter: filter, from: from, ch: make(chan Event, h.bufSize+len(initial)+len(backlog))}
	for _, ev := range initial {
		w.ch <- ev
	}
	for _, ev := range backlog {
		w.ch <- ev
	}
	if h.watchers[filter.Kind] == nil {
		h.watchers[filter.Kind] = map[*Watcher]struct{}{}
	}
	h.watchers[filter.Kind][w] = struct{}{}
	return w, nil
}

// Reset forgets the history (the state was replaced wholesale at revision
// rev) and ends every watcher with ErrReset.
func (h *Hub) Reset(rev uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.ring {
		h.ring[i] = Event{}
	}
	h.head, h.size, h.dropped = 0, 0, rev
	for _, set := range h.watchers {
		for w := range set {
			h.end(w, ErrReset)
		}
	}
}

// Watchers returns how many watchers are connected.
func (h *Hub) Watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.watchers {
		n += len(set)
	}
	return n
}

// end closes a watcher; h.mu must be held.
func (h *Hub) end(w *Watcher, err error) {
	if w.closed {
		return
	}
	w.closed = true
	w.err = err
	close(w.ch)
	delete(h.watchers[w.filter.Kind], w)
}
