package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"k8s.io/apimachinery/pkg/labels"
)

// Handler receives an informer's changes, after the cache holds them.
// Handlers run one at a time on the informer's goroutine and must return
// quickly: they only enqueue keys (and lower expectations). Objects are
// shared with the cache and must not be changed. Any func may be nil.
type Handler struct {
	OnAdd    func(obj apis.Object)
	OnUpdate func(old, obj apis.Object)
	OnDelete func(obj apis.Object)
}

// InformerConfig configures an Informer.
type InformerConfig struct {
	// Reader is the store: on the leader, its local state (raftfsm's
	// APIStore); lists are stale reads of that state.
	Reader   storage.Reader
	Resource *resources.Resource
	// Selection narrows what is cached (namespace, selectors); optional.
	Selection storage.Selection
	// MetadataOnly caches each object's metadata alone, as a
	// *metav1.PartialObjectMetadata, for controllers that read no more
	// (the garbage collector): the store then need not decode the
	// objects (see storage.MetadataRecord).
	MetadataOnly bool
	Logger       *slog.Logger
}

// Informer keeps a cache of one kind: it lists, then watches from the
// list's revision, and lists again (reporting the difference as events)
// whenever the watch ends — history gone (ErrTooOld), too slow
// (ErrTooSlow), state replaced by a snapshot (ErrReset).
type Informer struct {
	cfg InformerConfig
	log *slog.Logger

	mu       sync.RWMutex
	items    map[string]apis.Object
	indexers map[string]IndexFunc
	// indices: index name -> value -> keys.
	indices  map[string]map[string]map[string]struct{}
	handlers []Handler
	revision uint64

	synced     chan struct{}
	syncedOnce sync.Once
}

// NewInformer returns an informer; nothing is read until Run.
func NewInformer(cfg InformerConfig) *Informer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	i := &Informer{
		cfg:      cfg,
		log:      cfg.Logger.With("informer", cfg.Resource.Plural),
		items:    map[string]apis.Object{},
		indexers: map[string]IndexFunc{},
		indices:  map[string]map[string]map[string]struct{}{},
		synced:   make(chan struct{}),
	}
	i.AddIndex(IndexNamespace, NamespaceIndex)
	return i
}

// Kind is the kind the informer caches.
func (i *Informer) Kind() string { return i.cfg.Resource.Kind }

// Resource is the kind's registry entry.
func (i *Informer) Resource() *resources.Resource { return i.cfg.Resource }

// AddIndex adds an index, built at once over what is cached. An index of
// the same name already there is kept: index names have one meaning.
func (i *Informer) AddIndex(name string, fn IndexFunc) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if _, ok := i.indexers[name]; ok {
		return
	}
	i.indexers[name] = fn
	i.indices[name] = map[string]map[string]struct{}{}
	for key, obj := range i.items {
		i.indexOne(name, fn, key, obj)
	}
}

// AddHandler registers h. Added to a running informer, h first receives
// OnAdd for everything already cached.
func (i *Informer) AddHandler(h Handler) {
	i.mu.Lock()
	i.handlers = append(i.handlers, h)
	var existing []apis.Object
	if h.OnAdd != nil {
		for _, obj := range i.items {
			existing = append(existing, obj)
		}
	}
	i.mu.Unlock()
	for _, obj := range existing {
		h.OnAdd(obj)
	}
}

// Synced is closed once the first list is in the cache and the handlers
// have received it.
func (i *Informer) Synced() <-chan struct{} { return i.synced }

// HasSynced reports whether the first list is in the cache.
func (i *Informer) HasSynced() bool {
	select {
	case <-i.synced:
		return true
	default:
		return false
	}
}

// Revision is the store revision the cache reflects.
func (i *Informer) Revision() uint64 {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.revision
}

// Get returns the cached object namespace/name.
func (i *Informer) Get(namespace, name string) (apis.Object, bool) {
	return i.GetByKey(JoinKey(namespace, name))
}

// GetByKey returns the cached object of a key.
func (i *Informer) GetByKey(key string) (apis.Object, bool) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	obj, ok := i.items[key]
	return obj, ok
}

// Len is how many objects are cached.
func (i *Informer) Len() int {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return len(i.items)
}

// List returns every cached object, sorted by key.
func (i *Informer) List() []apis.Object {
	i.mu.RLock()
	defer i.mu.RUnlock()
	keys := make([]string, 0, len(i.items))
	for key := range i.items {
		keys = append(keys, key)
	}
	return i.objectsByKey(keys)
}

// ByIndex returns the cached objects indexed under value, sorted by key;
// nil for an unknown index.
func (i *Informer) ByIndex(index, value string) []apis.Object {
	i.mu.RLock()
	defer i.mu.RUnlock()
	set := i.indices[index][value]
	keys := make([]string, 0, len(set))
	for key := range set {
		keys = append(keys, key)
	}
	return i.objectsByKey(keys)
}

// objectsByKey sorts keys and returns their objects in that order. Sorting
// the keys the cache already holds, rather than objects by keys built in
// the comparison, matters: a ReplicaSet of 10,000 pods lists them on
// every sync. The caller holds i.mu.
func (i *Informer) objectsByKey(keys []string) []apis.Object {
	slices.Sort(keys)
	out := make([]apis.Object, len(keys))
	for n, key := range keys {
		out[n] = i.items[key]
	}
	return out
}

// Select returns the cached objects of namespace ("" = all) whose labels
// match sel (nil = everything), sorted by key.
func (i *Informer) Select(namespace string, sel labels.Selector) []apis.Object {
	var objs []apis.Object
	if namespace == "" {
		objs = i.List()
	} else {
		objs = i.ByIndex(IndexNamespace, namespace)
	}
	if sel == nil || sel.Empty() {
		return objs
	}
	out := objs[:0]
	for _, obj := range objs {
		if sel.Matches(labels.Set(obj.GetLabels())) {
			out = append(out, obj)
		}
	}
	return out
}

// Run keeps the cache current until ctx ends; it returns nil then. Store
// errors are retried with a backoff, never returned.
func (i *Informer) Run(ctx context.Context) error {
	const minBackoff, maxBackoff = 50 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for ctx.Err() == nil {
		started := time.Now()
		err := i.listAndWatch(ctx)
		if ctx.Err() != nil {
			break
		}
		switch {
		case errors.Is(err, storage.ErrTooOld), errors.Is(err, storage.ErrTooSlow), errors.Is(err, storage.ErrReset):
			i.log.Info("watch ended; listing again", "err", err)
		default:
			i.log.Warn("list or watch failed; retrying", "err", err, "in", backoff)
		}
		if time.Since(started) > time.Minute {
			backoff = minBackoff
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
	return nil
}

// errWatchStopped: the store ended a watch without saying why.
var errWatchStopped = errors.New("the store ended the watch")

func (i *Informer) listAndWatch(ctx context.Context) error {
	res, sel := i.cfg.Resource, i.cfg.Selection
	list, err := i.cfg.Reader.List(ctx, res, storage.ListOptions{Selection: sel, Stale: true})
	if err != nil {
		return err
	}
	i.replace(list.Items, list.Revision)
	w, err := i.cfg.Reader.Watch(ctx, res, storage.WatchOptions{Selection: sel, ResourceVersion: list.Revision})
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events():
			if !ok {
				if err := w.Err(); err != nil {
					return err
				}
				return errWatchStopped
			}
			i.apply(ev)
		}
	}
}

// replace makes the cache what a list returned and reports the difference.
func (i *Informer) replace(recs []storage.Record, revision uint64) {
	fresh := make(map[string]apis.Object, len(recs))
	for _, r := range recs {
		obj := i.object(r)
		fresh[Key(obj)] = obj
	}
	type change struct{ old, obj apis.Object }
	var changes []change
	i.mu.Lock()
	for key, obj := range fresh {
		old := i.items[key]
		if old == nil || old.GetResourceVersion() != obj.GetResourceVersion() {
			changes = append(changes, change{old, obj})
		}
	}
	for key, old := range i.items {
		if _, ok := fresh[key]; !ok {
			changes = append(changes, change{old, nil})
		}
	}
	i.items = fresh
	for name, fn := range i.indexers {
		i.indices[name] = map[string]map[string]struct{}{}
		for key, obj := range fresh {
			i.indexOne(name, fn, key, obj)
		}
	}
	i.revision = revision
	handlers := i.handlers
	i.mu.Unlock()
	for _, c := range changes {
		emit(handlers, c.old, c.obj)
	}
	// Synced once the handlers have seen the first list too, so that a
	// controller starting then finds its keys queued.
	i.syncedOnce.Do(func() { close(i.synced) })
}

// object is what the cache holds of r: the object, or its metadata.
func (i *Informer) object(r storage.Record) apis.Object {
	if i.cfg.MetadataOnly {
		return storage.PartialMetadata(i.cfg.Resource, r)
	}
	return r.Object()
}

// apply puts one watch event into the cache and reports it.
func (i *Informer) apply(ev storage.Event) {
	obj := i.object(ev.Object)
	key := Key(obj)
	i.mu.Lock()
	old := i.items[key]
	i.revision = max(i.revision, ev.Revision)
	if ev.Type == storage.Deleted {
		if old == nil {
			i.mu.Unlock()
			return
		}
		i.unindex(key, old)
		delete(i.items, key)
		handlers := i.handlers
		i.mu.Unlock()
		emit(handlers, obj, nil)
		return
	}
	if old != nil && old.GetResourceVersion() == obj.GetResourceVersion() {
		i.mu.Unlock()
		return
	}
	if old != nil {
		i.unindex(key, old)
	}
	i.items[key] = obj
	for name, fn := range i.indexers {
		i.indexOne(name, fn, key, obj)
	}
	handlers := i.handlers
	i.mu.Unlock()
	emit(handlers, old, obj)
}

// emit calls the handlers: old nil is an add, obj nil a delete.
func emit(handlers []Handler, old, obj apis.Object) {
	for _, h := range handlers {
		switch {
		case old == nil:
			if h.OnAdd != nil {
				h.OnAdd(obj)
			}
		case obj == nil:
			if h.OnDelete != nil {
				h.OnDelete(old)
			}
		default:
			if h.OnUpdate != nil {
				h.OnUpdate(old, obj)
			}
		}
	}
}

func (i *Informer) indexOne(name string, fn IndexFunc, key string, obj apis.Object) {
	idx := i.indices[name]
	for _, v := range fn(obj) {
		set := idx[v]
		if set == nil {
			set = map[string]struct{}{}
			idx[v] = set
		}
		set[key] = struct{}{}
	}
}

func (i *Informer) unindex(key string, obj apis.Object) {
	for name, fn := range i.indexers {
		idx := i.indices[name]
		for _, v := range fn(obj) {
			delete(idx[v], key)
			if len(idx[v]) == 0 {
				delete(idx, v)
			}
		}
	}
}
