package client

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Handler receives an informer's changes. Objects are shared with the
// cache: copy before changing them. Any func may be nil.
type Handler struct {
	OnAdd    func(obj apis.Object)
	OnUpdate func(old, obj apis.Object)
	OnDelete func(obj apis.Object)
}

// Informer keeps a local copy of a kind's objects up to date by listing,
// then watching; when the watch falls out of the server's history (410) it
// lists again and reports the difference as events.
type Informer struct {
	c    *Client
	res  *resources.Resource
	opts ListOptions
	log  *slog.Logger

	mu       sync.RWMutex
	items    map[string]apis.Object
	rv       string
	handlers []Handler
	synced   chan struct{}
	syncOnce sync.Once
}

// NewInformer returns an informer for res narrowed by opts (namespace and
// selectors; paging and versions are its own business).
func NewInformer(c *Client, res *resources.Resource, opts ListOptions, log *slog.Logger) *Informer {
	if log == nil {
		log = slog.Default()
	}
	return &Informer{c: c, res: res, opts: opts, log: log.With("informer", res.Plural),
		items: map[string]apis.Object{}, synced: make(chan struct{})}
}

// AddHandler registers h; call before Run.
func (i *Informer) AddHandler(h Handler) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.handlers = append(i.handlers, h)
}

func objKey(obj apis.Object) string { return obj.GetNamespace() + "/" + obj.GetName() }

// Get returns a cached object, or nil.
func (i *Informer) Get(namespace, name string) apis.Object {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.items[namespace+"/"+name]
}

// List returns every cached object, sorted by namespace and name.
func (i *Informer) List() []apis.Object {
	i.mu.RLock()
	out := make([]apis.Object, 0, len(i.items))
	for _, o := range i.items {
		out = append(out, o)
	}
	i.mu.RUnlock()
	sort.Slice(out, func(a, b int) bool { return objKey(out[a]) < objKey(out[b]) })
	return out
}

// Synced is closed once the first list is in the cache.
func (i *Informer) Synced() <-chan struct{} { return i.synced }

// Run keeps the cache current until ctx ends.
func (i *Informer) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if err := i.relist(ctx); err != nil {
			i.log.Warn("list failed", "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		// Watch until the history no longer has our version.
		for ctx.Err() == nil {
			expired, err := i.watchOnce(ctx)
			if expired {
				break
			}
			if err != nil && ctx.Err() == nil {
				i.log.Debug("watch ended", "err", err)
				sleep(ctx, backoff)
				backoff = min(2*backoff, 5*time.Second)
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// relist reads everything and reconciles the cache with it.
func (i *Informer) relist(ctx context.Context) error {
	opts := i.opts
	opts.Limit, opts.Continue, opts.ResourceVersion = 500, "", ""
	fresh := map[string]apis.Object{}
	var rv string
	for {
		page, err := i.c.List(ctx, i.res, opts)
		if err != nil {
			return err
		}
		for _, o := range page.Items {
			fresh[objKey(o)] = o
		}
		if rv == "" {
			rv = page.ResourceVersion
		}
		if page.Continue == "" {
			break
		}
		opts.Continue = page.Continue
	}
	i.mu.Lock()
	old := i.items
	i.items, i.rv = fresh, rv
	handlers := append([]Handler(nil), i.handlers...)
	i.mu.Unlock()
	for k, o := range fresh {
		if prev, ok := old[k]; !ok {
			emitAdd(handlers, o)
		} else if prev.GetResourceVersion() != o.GetResourceVersion() {
			emitUpdate(handlers, prev, o)
		}
	}
	for k, o := range old {
		if _, ok := fresh[k]; !ok {
			emitDelete(handlers, o)
		}
	}
	i.syncOnce.Do(func() { close(i.synced) })
	return nil
}

// watchOnce watches from the cached version; expired says a relist is due.
func (i *Informer) watchOnce(ctx context.Context) (expired bool, err error) {
	i.mu.RLock()
	opts := i.opts
	opts.ResourceVersion = i.rv
	i.mu.RUnlock()
	opts.TimeoutSeconds = 300
	w, err := i.c.Watch(ctx, i.res, opts)
	if err != nil {
		return apierrors.IsResourceExpired(err) || apierrors.IsGone(err), err
	}
	defer w.Stop()
	for ev := range w.Events() {
		if ev.Type == "ERROR" {
			return ev.Status != nil && ev.Status.Code == http.StatusGone, nil
		}
		i.apply(ev)
	}
	return false, w.Err()
}

func (i *Informer) apply(ev Event) {
	obj := ev.Object
	k := objKey(obj)
	i.mu.Lock()
	prev, had := i.items[k]
	if ev.Type == "DELETED" {
		delete(i.items, k)
	} else {
		i.items[k] = obj
	}
	i.rv = obj.GetResourceVersion()
	handlers := append([]Handler(nil), i.handlers...)
	i.mu.Unlock()
	switch {
	case ev.Type == "DELETED":
		if had {
			emitDelete(handlers, obj)
		}
	case had:
		emitUpdate(handlers, prev, obj)
	default:
		emitAdd(handlers, obj)
	}
}

func emitAdd(hs []Handler, o apis.Object) {
	for _, h := range hs {
		if h.OnAdd != nil {
			h.OnAdd(o)
		}
	}
}

func emitUpdate(hs []Handler, old, o apis.Object) {
	for _, h := range hs {
		if h.OnUpdate != nil {
			h.OnUpdate(old, o)
		}
	}
}

func emitDelete(hs []Handler, o apis.Object) {
	for _, h := range hs {
		if h.OnDelete != nil {
			h.OnDelete(o)
		}
	}
}
