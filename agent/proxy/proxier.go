package proxy

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Backend programs the kernel.
type Backend interface {
	Name() string
	// Sync makes the kernel do what st says, and nothing else.
	Sync(st State) error
	// Cleanup removes everything the backend programmed.
	Cleanup() error
}

// Config configures a Proxier.
type Config struct {
	Backend Backend
	// MinSyncInterval gathers changes arriving together (a rollout moves
	// many endpoints) into one sync; default 50 ms.
	MinSyncInterval time.Duration
	// ResyncPeriod reprograms everything even without a change, undoing
	// what someone else changed in the kernel; default 30 s.
	ResyncPeriod time.Duration
	Logger       *slog.Logger
}

// Proxier keeps the kernel in step with the Services and Endpoints it is
// told about (from the agent's watches).
type Proxier struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	services  map[string]*corev1.Service
	endpoints map[string]*corev1.Endpoints
	synced    bool // both watches have listed
	changed   chan struct{}

	statsMu  sync.Mutex
	lastSync time.Duration
	syncs    int
	// appliedAt is when the kernel last matched the state the Proxier
	// knew: the start of the last sync, or of a check that found nothing
	// to change.
	appliedAt time.Time
	applied   chan struct{} // closed and replaced at each appliedAt
}

// New returns a Proxier; Run programs the kernel.
func New(cfg Config) *Proxier {
	if cfg.MinSyncInterval <= 0 {
		cfg.MinSyncInterval = 50 * time.Millisecond
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Proxier{cfg: cfg, log: cfg.Logger.With("component", "proxy", "backend", cfg.Backend.Name()),
		services: map[string]*corev1.Service{}, endpoints: map[string]*corev1.Endpoints{}, changed: make(chan struct{}, 1),
		applied: make(chan struct{})}
}

func objKey(namespace, name string) string { return namespace + "/" + name }

func (p *Proxier) poke() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// SetService records a Service added or changed.
func (p *Proxier) SetService(svc *corev1.Service) {
	p.mu.Lock()
	p.services[objKey(svc.Namespace, svc.Name)] = svc
	p.mu.Unlock()
	p.poke()
}

// DeleteService forgets a Service.
func (p *Proxier) DeleteService(namespace, name string) {
	p.mu.Lock()
	delete(p.services, objKey(namespace, name))
	p.mu.Unlock()
	p.poke()
}

// SetEndpoints records Endpoints added or changed.
func (p *Proxier) SetEndpoints(ep *corev1.Endpoints) {
	p.mu.Lock()
	p.endpoints[objKey(ep.Namespace, ep.Name)] = ep
	p.mu.Unlock()
	p.poke()
}

// DeleteEndpoints forgets Endpoints.
func (p *Proxier) DeleteEndpoints(namespace, name string) {
	p.mu.Lock()
	delete(p.endpoints, objKey(namespace, name))
	p.mu.Unlock()
	p.poke()
}

// MarkSynced says both watches have listed: until then the Proxier does
// not program anything (a partial state would drop live services).
func (p *Proxier) MarkSynced() {
	p.mu.Lock()
	p.synced = true
	p.mu.Unlock()
	p.poke()
}

// State computes the desired state from what the Proxier was told.
func (p *Proxier) State() State {
	p.mu.Lock()
	svcs := make([]*corev1.Service, 0, len(p.services))
	for _, s := range p.services {
		svcs = append(svcs, s)
	}
	eps := make(map[string]*corev1.Endpoints, len(p.endpoints))
	for k, e := range p.endpoints {
		eps[k] = e
	}
	p.mu.Unlock()
	return Build(svcs, eps)
}

// LastSync returns how long the last sync took and how many ran.
func (p *Proxier) LastSync() (time.Duration, int) {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return p.lastSync, p.syncs
}

// Run syncs after changes (at most once per MinSyncInterval) and every
// ResyncPeriod, until ctx ends. What it programmed stays: connections keep
// flowing while the agent restarts.
func (p *Proxier) Run(ctx context.Context) {
	resync := time.NewTicker(p.cfg.ResyncPeriod)
	defer resync.Stop()
	var last State
	failed := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
			// Let the rest of a burst arrive.
			select {
			case <-ctx.Done():
				return
			case <-time.After(p.cfg.MinSyncInterval):
			}
		case <-resync.C:
			failed = true // a full resync even when nothing changed
		}
		p.mu.Lock()
		synced := p.synced
		p.mu.Unlock()
		if !synced {
			continue
		}
		start := time.Now()
		st := p.State()
		if !failed && equalStates(st, last) && p.syncsSoFar() > 0 {
			p.markApplied(start)
			continue
		}
		if err := p.cfg.Backend.Sync(st); err != nil {
			p.log.Error("programming services", "err", err)
			failed = true
			p.poke() // try again after the interval
			continue
		}
		took := time.Since(start)
		p.statsMu.Lock()
		p.lastSync, p.syncs = took, p.syncs+1
		p.statsMu.Unlock()
		p.log.Debug("programmed services", "ports", len(st.Services), "took", took)
		last, failed = st, false
		p.markApplied(start)
	}
}

func (p *Proxier) markApplied(at time.Time) {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	p.appliedAt = at
	close(p.applied)
	p.applied = make(chan struct{})
}

// WaitApplied returns once the kernel matches a state computed after
// since (what the Proxier was told up to then is programmed), or when ctx
// ends. Before MarkSynced nothing is programmed, so it waits.
func (p *Proxier) WaitApplied(ctx context.Context, since time.Time) error {
	p.poke() // a check now, even when nothing changed
	for {
		p.statsMu.Lock()
		done, next := p.appliedAt.After(since), p.applied
		p.statsMu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-next:
		}
	}
}

func (p *Proxier) syncsSoFar() int {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return p.syncs
}

func equalStates(a, b State) bool {
	return slices.EqualFunc(a.Services, b.Services, func(x, y ServicePort) bool {
		return x.Key == y.Key && x.ClusterIP == y.ClusterIP && x.Port == y.Port && x.Protocol == y.Protocol &&
			x.NodePort == y.NodePort && x.Affinity == y.Affinity && slices.Equal(x.Endpoints, y.Endpoints)
	})
}
