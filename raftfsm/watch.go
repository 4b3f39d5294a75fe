package raftfsm

import (
	"sort"
	"sync"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// is set. Every filter of one kind given to a Hub must carry the same
	// one (the kind's): the hub computes an event's fields once for all
	// its watchers.
	FieldSet func(apis.Object) fields.Set
	// IndexField is the kind's watch index (resources.Resource.WatchIndex):
	// a watcher whose field selector asks for one value of it is offered
	// only the events of objects with that value.
	IndexField string
}

// objectView is an object being matched against many filters; its
// selectable fields are computed once, on first need. Namespace and labels
// come from its metadata: a record need not decode the whole object for
// them.
type objectView struct {
	meta   metav1.Object
	rec    storage.Record // where obj comes from, when nil
	obj    apis.Object
	fields fields.Set
}

// recordView is a view of rec.
func recordView(rec storage.Record) *objectView {
	if m, ok := rec.(storage.MetadataRecord); ok {
		return &objectView{meta: m.Meta(), rec: rec}
	}
	obj := rec.Object()
	return &objectView{meta: obj, obj: obj}
}

func (v *objectView) fieldSet(fn func(apis.Object) fields.Set) fields.Set {
	if v.fields == nil {
		if v.obj == nil {
			v.obj = v.rec.Object()
		}
		v.fields = fn(v.obj)
	}
	return v.fields
}

// Matches reports whether obj passes the filter's namespace and selectors.
func (f *Filter) Matches(obj apis.Object) bool { return f.matches(&objectView{meta: obj, obj: obj}) }

func (f *Filter) matches(v *objectView) bool {
	if f.Namespace != "" && v.meta.GetNamespace() != f.Namespace {
		return false
	}
	if f.Labels != nil && !f.Labels.Empty() && !f.Labels.Matches(labels.Set(v.meta.GetLabels())) {
		return false
	}
	if f.Fields != nil && !f.Fields.Empty() && !f.Fields.Matches(v.fieldSet(f.FieldSet)) {
		return false
	}
	return true
}

// indexValue is the value of the filter's index field the watcher asks
// for, if it asks for exactly one.
func (f *Filter) indexValue() (string, bool) {
	if f.IndexField == "" || f.Fields == nil || f.FieldSet == nil {
		return "", false
	}
	return f.Fields.RequiresExactMatch(f.IndexField)
}

// translate turns an event into what a watcher with selectors must see: an
// object that starts matching is ADDED, one that stops matching is DELETED.
// cur and prev are the event's object and previous object (prev nil when
// the event has none).
func (f *Filter) translate(ev Event, cur, prev *objectView) (Event, bool) {
	now := f.matches(cur)
	switch ev.Type {
	case Modified:
		before := prev != nil && f.matches(prev)
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

// views returns the event's object and previous object as objectViews.
func views(ev Event) (cur, prev *objectView) {
	cur = recordView(ev.Object)
	if ev.Prev != nil {
		prev = recordView(ev.Prev)
	}
	return cur, prev
}

// Watcher receives the events of one watch. The hub queues its events
// (Publish never waits for a reader) and a goroutine of its own hands them
// to Events(); the queue's memory follows what is pending, not the most
// that may be.
type Watcher struct {
	hub    *Hub
	filter Filter
	from   uint64
	ch     chan Event
	wake   chan struct{} // a nudge to the pump: events queued or watch ended
	ended  chan struct{} // closed when the watch ends

	// Guarded by hub.mu.
	queue   []Event
	limit   int // most events queued before the watcher is cut off
	closed  bool
	err     error
	indexed bool
	value   string // the index field's value, when indexed
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

// pump moves queued events to the channel until the watch ends. Events
// still queued when it ends are dropped: a watcher cut off must relist
// anyway, and a stopped one reads no more.
func (w *Watcher) pump() {
	defer close(w.ch)
	var batch []Event
	for {
		w.hub.mu.Lock()
		if cap(batch) > 1024 {
			batch = nil // a burst is over: let its array go
		}
		batch, w.queue = w.queue, batch[:0]
		closed := w.closed
		w.hub.mu.Unlock()
		if closed {
			return
		}
		if len(batch) == 0 {
			select {
			case <-w.wake:
			case <-w.ended:
				return
			}
			continue
		}
		for i, ev := range batch {
			select {
			case w.ch <- ev:
			case <-w.ended:
				return
			}
			batch[i] = Event{}
		}
	}
}

// kindWatchers are the watchers of one kind.
type kindWatchers struct {
	all map[*Watcher]struct{} // offered every event
	// byValue holds the watchers asking for one value of field: offered
	// only the events whose object (or previous object) has that value.
	byValue  map[string]map[*Watcher]struct{}
	field    string
	fieldSet func(apis.Object) fields.Set
}

// Hub keeps a bounded history of events and fans them out to watchers.
type Hub struct {
	mu       sync.Mutex
	ring     []Event
	head     int // index of the oldest event
	size     int
	dropped  uint64 // newest revision no longer (or never) in the history
	watchers map[string]*kindWatchers
	bufSize  int
}

// NewHub returns a hub keeping up to history events; each watcher may fall
// behind by buffer events before it is cut off.
func NewHub(history, buffer int) *Hub {
	return &Hub{ring: make([]Event, history), watchers: map[string]*kindWatchers{}, bufSize: buffer}
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
		kw := h.watchers[ev.Kind]
		if kw == nil {
			continue
		}
		cur, prev := views(ev)
		for w := range kw.all {
			h.offer(w, ev, cur, prev)
		}
		if len(kw.byValue) == 0 {
			continue
		}
		v := cur.fieldSet(kw.fieldSet)[kw.field]
		for w := range kw.byValue[v] {
			h.offer(w, ev, cur, prev)
		}
		// An object whose value changed may leave a watcher's selection:
		// that watcher sees it DELETED.
		if prev != nil {
			if pv := prev.fieldSet(kw.fieldSet)[kw.field]; pv != v {
				for w := range kw.byValue[pv] {
					h.offer(w, ev, cur, prev)
				}
			}
		}
	}
}

// offer queues ev for w if w wants it, cutting w off when it is too far
// behind; h.mu must be held.
func (h *Hub) offer(w *Watcher, ev Event, cur, prev *objectView) {
	if ev.Revision <= w.from {
		return
	}
	out, ok := w.filter.translate(ev, cur, prev)
	if !ok {
		return
	}
	if len(w.queue) >= w.limit {
		h.end(w, ErrTooSlow)
		return
	}
	w.queue = append(w.queue, out)
	select {
	case w.wake <- struct{}{}:
	default:
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
	queue := append([]Event(nil), initial...)
	start := sort.Search(h.size, func(i int) bool { return h.ring[(h.head+i)%len(h.ring)].Revision > from })
	for i := start; i < h.size; i++ {
		ev := h.ring[(h.head+i)%len(h.ring)]
		if ev.Kind != filter.Kind {
			continue
		}
		cur, prev := views(ev)
		if out, ok := filter.translate(ev, cur, prev); ok {
			queue = append(queue, out)
		}
	}
	w := &Watcher{hub: h, filter: filter, from: from, ch: make(chan Event), wake: make(chan struct{}, 1),
		ended: make(chan struct{}), queue: queue, limit: h.bufSize + len(queue)}
	kw := h.watchers[filter.Kind]
	if kw == nil {
		kw = &kindWatchers{all: map[*Watcher]struct{}{}, byValue: map[string]map[*Watcher]struct{}{}}
		h.watchers[filter.Kind] = kw
	}
	if v, ok := filter.indexValue(); ok && (kw.field == "" || kw.field == filter.IndexField) {
		kw.field, kw.fieldSet = filter.IndexField, filter.FieldSet
		if kw.byValue[v] == nil {
			kw.byValue[v] = map[*Watcher]struct{}{}
		}
		kw.byValue[v][w] = struct{}{}
		w.indexed, w.value = true, v
	} else {
		kw.all[w] = struct{}{}
	}
	go w.pump()
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
	for _, kw := range h.watchers {
		for w := range kw.all {
			h.end(w, ErrReset)
		}
		for _, set := range kw.byValue {
			for w := range set {
				h.end(w, ErrReset)
			}
		}
	}
}

// Watchers returns how many watchers are connected.
func (h *Hub) Watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, kw := range h.watchers {
		n += len(kw.all)
		for _, set := range kw.byValue {
			n += len(set)
		}
	}
	return n
}

// end ends a watcher; h.mu must be held. Its pump closes the channel.
func (h *Hub) end(w *Watcher, err error) {
	if w.closed {
		return
	}
	w.closed = true
	w.err = err
	w.queue = nil
	close(w.ended)
	kw := h.watchers[w.filter.Kind]
	if !w.indexed {
		delete(kw.all, w)
		return
	}
	delete(kw.byValue[w.value], w)
	if len(kw.byValue[w.value]) == 0 {
		delete(kw.byValue, w.value)
	}
}
