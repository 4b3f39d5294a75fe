package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
)

// Informers hands out one shared informer per kind, so that controllers
// watching the same kind share one cache and one watch. Ask for every
// informer (For) before Run.
type Informers struct {
	reader storage.Reader
	reg    *resources.Registry
	log    *slog.Logger

	mu      sync.Mutex
	byKind  map[string]*Informer
	meta    map[string]*Informer // metadata-only, of kinds no For asked for
	order   []*Informer
	running bool
}

// NewInformers returns an empty set over reader (on the leader: its local
// store, e.g. raftfsm.APIStore).
func NewInformers(reader storage.Reader, reg *resources.Registry, log *slog.Logger) *Informers {
	if log == nil {
		log = slog.Default()
	}
	return &Informers{reader: reader, reg: reg, log: log, byKind: map[string]*Informer{}, meta: map[string]*Informer{}}
}

// For returns the informer of kind ("Pod"), making it on first use. It
// panics for a kind the registry does not know or when called after Run:
// both are wiring mistakes.
func (f *Informers) For(kind string) *Informer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if inf, ok := f.byKind[kind]; ok {
		return inf
	}
	inf := f.newLocked(kind, false)
	f.byKind[kind] = inf
	return inf
}

// ForMetadata returns an informer of kind whose objects may be metadata
// alone (*metav1.PartialObjectMetadata): the one For made, if it did, else
// a metadata-only one. Ask for it after every For, so that a kind that
// some controller caches whole is not watched twice.
func (f *Informers) ForMetadata(kind string) *Informer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if inf, ok := f.byKind[kind]; ok {
		return inf
	}
	if inf, ok := f.meta[kind]; ok {
		return inf
	}
	inf := f.newLocked(kind, true)
	f.meta[kind] = inf
	return inf
}

func (f *Informers) newLocked(kind string, metadataOnly bool) *Informer {
	if f.running {
		panic(fmt.Sprintf("reconcile: informer for %s asked for after Informers.Run", kind))
	}
	res, ok := f.reg.ByKind(kind)
	if !ok {
		panic(fmt.Sprintf("reconcile: no resource of kind %q", kind))
	}
	inf := NewInformer(InformerConfig{Reader: f.reader, Resource: res, MetadataOnly: metadataOnly, Logger: f.log})
	f.order = append(f.order, inf)
	return inf
}

// Run runs every informer until ctx ends; it returns nil then.
func (f *Informers) Run(ctx context.Context) error {
	f.mu.Lock()
	f.running = true
	infs := append([]*Informer(nil), f.order...)
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, inf := range infs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = inf.Run(ctx) // returns nil when ctx ends; never an error
		}()
	}
	wg.Wait()
	return nil
}

// WaitForSync waits until every informer given has its first list, or ctx
// ends (then it returns false).
func WaitForSync(ctx context.Context, infs ...*Informer) bool {
	for _, inf := range infs {
		select {
		case <-inf.Synced():
		case <-ctx.Done():
			return false
		}
	}
	return true
}
