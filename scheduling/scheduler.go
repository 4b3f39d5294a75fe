package scheduling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// Lister reads the cluster as the leader's local state holds it.
type Lister interface {
	ListNodes() ([]*corev1.Node, error)
	ListPods() ([]*corev1.Pod, error)
}

// Binder writes a pod's binding: one write per pod that sets
// spec.nodeName to node, with pod's resourceVersion as precondition so a
// decision taken on a stale pod fails instead of overwriting.
type Binder interface {
	Bind(ctx context.Context, pod *corev1.Pod, node string) error
}

// Recorder tells the user why a pod waits: it sets the pod's
// PodScheduled=False condition (reason Unschedulable, fitErr.Error() as
// message) and records a FailedScheduling event with the same message.
type Recorder interface {
	PodUnschedulable(ctx context.Context, pod *corev1.Pod, fitErr *FitError) error
}

// Config configures a [Scheduler]. Lister, Binder and Recorder are
// required; zero values of the other fields take the defaults of
// [DefaultConfig].
type Config struct {
	Lister   Lister
	Binder   Binder
	Recorder Recorder
	Clock    clock.WithTicker
	Logger   *slog.Logger
	// Pipeline decides where pods go; when nil, DefaultPipeline(), with
	// the VolumeBinding filter over Volumes when that is set.
	Pipeline *Pipeline
	// Volumes reads pods' claims, volumes and storage classes.
	Volumes VolumeLister
	Queue   QueueConfig
	// Parallelism bounds the writes (bindings and unschedulable reports)
	// in flight; the scheduling loop waits when they are all taken.
	Parallelism int
	// AssumeTTL is how long an assumed pod whose binding was written stays
	// accounted without the store's event confirming it.
	AssumeTTL time.Duration
}

// DefaultConfig returns the defaults: the real clock, the default logger,
// the default pipeline and queue, 64 writes in flight (a Raft write under
// load takes tens of milliseconds: fewer would cap the binding rate), assumptions kept 30 s
// after their binding.
func DefaultConfig() Config {
	return Config{
		Clock:       clock.RealClock{},
		Logger:      slog.Default(),
		Pipeline:    DefaultPipeline(),
		Queue:       DefaultQueueConfig(),
		Parallelism: 64,
		AssumeTTL:   30 * time.Second,
	}
}

// Scheduler is the scheduling loop of one leadership term: create it when
// this master becomes leader, Run it, and drop it when Run returns.
type Scheduler struct {
	cfg      Config
	log      *slog.Logger
	pipeline *Pipeline
	queue    *Queue

	mu   sync.Mutex // guards snap
	snap *Snapshot

	writes  sync.WaitGroup
	slots   chan struct{} // one per write in flight
	started atomic.Bool
	stats   struct{ attempts, assumed, bound, bindErrors, unschedulable atomic.Int64 }
}

// Sentinel errors of [New] and [Scheduler.Run].
var (
	ErrMissingDependency = errors.New("scheduler config lacks a Lister, Binder or Recorder")
	ErrAlreadyRunning    = errors.New("scheduler already ran; make a new one per leadership term")
)

// New returns a scheduler with an empty snapshot and queue; Run fills them.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Lister == nil || cfg.Binder == nil || cfg.Recorder == nil {
		return nil, ErrMissingDependency
	}
	def := DefaultConfig()
	if cfg.Clock == nil {
		cfg.Clock = def.Clock
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.Pipeline == nil && cfg.Volumes != nil {
		p, err := NewPipeline(append(DefaultFilters(), VolumeBinding{Volumes: cfg.Volumes}), DefaultScores())
		if err != nil {
			return nil, err
		}
		cfg.Pipeline = p
	}
	if cfg.Pipeline == nil {
		cfg.Pipeline = def.Pipeline
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = def.Parallelism
	}
	if cfg.AssumeTTL <= 0 {
		cfg.AssumeTTL = def.AssumeTTL
	}
	return &Scheduler{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "scheduler"),
		pipeline: cfg.Pipeline,
		queue:    NewQueue(cfg.Clock, cfg.Queue),
		snap:     NewSnapshot(nil, nil),
		slots:    make(chan struct{}, cfg.Parallelism),
	}, nil
}

// Run lists the cluster, queues every pod that needs scheduling and
// schedules until ctx ends (leadership lost); it then waits for the writes
// in flight, which see ctx cancelled, and returns nil. It fails only when
// the first list does.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	if err := s.sync(); err != nil {
		return err
	}
	var bg sync.WaitGroup
	bg.Go(func() { s.queue.Run(ctx) })
	bg.Go(func() { s.expireAssumed(ctx) })
	s.log.Info("scheduler started")
	for {
		qp, err := s.queue.Pop(ctx)
		if err != nil {
			break
		}
		s.scheduleOne(ctx, qp)
	}
	s.writes.Wait()
	bg.Wait()
	s.log.Info("scheduler stopped")
	return nil
}

// sync loads the nodes and bound pods into the snapshot and queues the
// pods that need scheduling. Both upsert by name and UID, so events
// handled before it are kept.
func (s *Scheduler) sync() error {
	s.mu.Lock()
	nodes, err := s.cfg.Lister.ListNodes()
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("scheduler: list nodes: %w", err)
	}
	pods, err := s.cfg.Lister.ListPods()
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("scheduler: list pods: %w", err)
	}
	for _, n := range nodes {
		s.snap.SetNode(n)
	}
	for _, p := range pods {
		if occupiesNode(p) {
			s.snap.SetPod(p)
		}
	}
	s.mu.Unlock()
	for _, p := range pods {
		if NeedsScheduling(p) {
			s.queue.Add(p)
		}
	}
	return nil
}

func (s *Scheduler) scheduleOne(ctx context.Context, qp *QueuedPod) {
	pi := qp.PodInfo
	pod := pi.Pod
	s.stats.attempts.Add(1)

	s.mu.Lock()
	if node, placed := s.snap.NodeOf(pod.UID); placed {
		s.mu.Unlock()
		s.log.Debug("pod already on a node", "pod", podKey(pod), "node", node)
		s.queue.Done(pod.UID)
		return
	}
	node, fitErr := s.pipeline.Schedule(ctx, s.snap, pi)
	var assumeErr error
	if fitErr == nil {
		assumeErr = s.snap.Assume(pi, node)
	}
	s.mu.Unlock()

	switch {
	case fitErr != nil && ctx.Err() != nil:
		// Leadership lost mid-attempt; the next leader starts afresh.
	case fitErr != nil && fitErr.Err != nil:
		s.log.Error("scheduling attempt failed", "pod", podKey(pod), "err", fitErr.Err)
		s.queue.AddBackoff(qp)
	case fitErr != nil:
		s.stats.unschedulable.Add(1)
		s.log.Debug("pod unschedulable", "pod", podKey(pod), "reason", fitErr.Error())
		s.queue.AddUnschedulable(qp, fitErr.Plugins)
		s.write(ctx, func(ctx context.Context) {
			if err := s.cfg.Recorder.PodUnschedulable(ctx, pod, fitErr); err != nil && ctx.Err() == nil {
				s.log.Warn("recording unschedulable pod", "pod", podKey(pod), "err", err)
			}
		})
	case assumeErr != nil:
		s.log.Error("assuming pod", "pod", podKey(pod), "node", node, "err", assumeErr)
		s.queue.AddBackoff(qp)
	default:
		s.stats.assumed.Add(1)
		if !s.write(ctx, func(ctx context.Context) { s.bind(ctx, qp, node) }) {
			s.forget(pod)
		}
	}
}

// write runs fn in its own goroutine once a write slot is free; false when
// ctx ended first.
func (s *Scheduler) write(ctx context.Context, fn func(context.Context)) bool {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	s.writes.Go(func() {
		defer func() { <-s.slots }()
		fn(ctx)
	})
	return true
}

// bind writes the binding of an assumed pod; on failure it drops the
// assumption and retries the pod after its backoff.
func (s *Scheduler) bind(ctx context.Context, qp *QueuedPod, node string) {
	pod := qp.Pod
	if err := s.cfg.Binder.Bind(ctx, pod, node); err != nil {
		s.stats.bindErrors.Add(1)
		s.forget(pod)
		if ctx.Err() == nil {
			s.log.Warn("binding pod", "pod", podKey(pod), "node", node, "err", err)
		}
		s.queue.AddBackoff(qp)
		return
	}
	s.stats.bound.Add(1)
	s.mu.Lock()
	s.snap.FinishBinding(pod.UID, s.cfg.Clock.Now().Add(s.cfg.AssumeTTL))
	s.mu.Unlock()
	s.queue.Done(pod.UID)
}

// forget drops an assumption; what it held may let waiting pods fit.
func (s *Scheduler) forget(pod *corev1.Pod) {
	s.mu.Lock()
	s.snap.Forget(pod.UID)
	s.mu.Unlock()
	s.queue.MoveAll(EventPodDelete)
}

// expireAssumed drops, every AssumeTTL, assumptions that no event
// confirmed within AssumeTTL of their binding.
func (s *Scheduler) expireAssumed(ctx context.Context) {
	t := s.cfg.Clock.NewTicker(s.cfg.AssumeTTL)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			s.mu.Lock()
			n := s.snap.ExpireAssumed(s.cfg.Clock.Now())
			s.mu.Unlock()
			if n > 0 {
				s.log.Warn("assumed pods expired unconfirmed", "count", n)
				s.queue.MoveAll(EventPodDelete)
			}
		}
	}
}

// OnPodAdd handles a pod the watch reports created (or listed).
func (s *Scheduler) OnPodAdd(pod *corev1.Pod) { s.onPod(pod) }

// OnPodUpdate handles a pod the watch reports changed.
func (s *Scheduler) OnPodUpdate(_, pod *corev1.Pod) { s.onPod(pod) }

func (s *Scheduler) onPod(pod *corev1.Pod) {
	switch {
	case occupiesNode(pod):
		// Bound: account it (confirming an assumption), stop queuing it.
		s.mu.Lock()
		s.snap.SetPod(pod)
		s.mu.Unlock()
		s.queue.Delete(pod.UID)
	case pod.Spec.NodeName != "":
		// Terminal: what it held is free.
		s.mu.Lock()
		_, placed := s.snap.NodeOf(pod.UID)
		s.snap.RemovePod(pod.UID)
		s.mu.Unlock()
		s.queue.Delete(pod.UID)
		if placed {
			s.queue.MoveAll(EventPodDelete)
		}
	case NeedsScheduling(pod):
		s.queue.Add(pod)
	default:
		// Unbound but terminal, being deleted, or another scheduler's.
		s.queue.Delete(pod.UID)
	}
}

// OnVolumeChange handles a claim, volume or storage class the watch
// reports created or changed: pods waiting for their volumes try again.
func (s *Scheduler) OnVolumeChange() { s.queue.MoveAll(EventVolumeChange) }

// OnPodDelete handles a pod the watch reports deleted.
func (s *Scheduler) OnPodDelete(pod *corev1.Pod) {
	s.mu.Lock()
	_, placed := s.snap.NodeOf(pod.UID)
	s.snap.RemovePod(pod.UID)
	s.mu.Unlock()
	s.queue.Delete(pod.UID)
	if placed {
		s.queue.MoveAll(EventPodDelete)
	}
}

// OnNodeAdd handles a node the watch reports created (or listed).
func (s *Scheduler) OnNodeAdd(node *corev1.Node) {
	s.mu.Lock()
	s.snap.SetNode(node)
	s.mu.Unlock()
	s.queue.MoveAll(EventNodeAdd)
}

// OnNodeUpdate handles a node the watch reports changed. Heartbeats, which
// change nothing a filter reads, retry no pods.
func (s *Scheduler) OnNodeUpdate(old, node *corev1.Node) {
	s.mu.Lock()
	s.snap.SetNode(node)
	s.mu.Unlock()
	if schedulingChanged(old, node) {
		s.queue.MoveAll(EventNodeUpdate)
	}
}

// OnNodeDelete handles a node the watch reports deleted.
func (s *Scheduler) OnNodeDelete(node *corev1.Node) {
	s.mu.Lock()
	s.snap.RemoveNode(node.Name)
	s.mu.Unlock()
}

// schedulingChanged reports whether a node update changes what the filters
// read: labels, taints, cordon, allocatable, readiness.
func schedulingChanged(old, n *corev1.Node) bool {
	if old == nil {
		return true
	}
	return !maps.Equal(old.Labels, n.Labels) ||
		!slices.EqualFunc(old.Spec.Taints, n.Spec.Taints, func(a, b corev1.Taint) bool {
			return a.Key == b.Key && a.Value == b.Value && a.Effect == b.Effect
		}) ||
		old.Spec.Unschedulable != n.Spec.Unschedulable ||
		ResourceFromList(old.Status.Allocatable) != ResourceFromList(n.Status.Allocatable) ||
		readyStatus(old) != readyStatus(n)
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// Stats counts what the scheduler did.
type Stats struct {
	// Attempts counts pods popped from the queue.
	Attempts int64
	// Assumed counts pods placed on a node; Bound those whose binding was
	// written; BindErrors those whose binding failed.
	Assumed, Bound, BindErrors int64
	// Unschedulable counts attempts that found no node.
	Unschedulable int64
	// Queue is where the queued pods wait now.
	Queue QueueStats
}

// Stats returns the scheduler's counters.
func (s *Scheduler) Stats() Stats {
	return Stats{
		Attempts:      s.stats.attempts.Load(),
		Assumed:       s.stats.assumed.Load(),
		Bound:         s.stats.bound.Load(),
		BindErrors:    s.stats.bindErrors.Load(),
		Unschedulable: s.stats.unschedulable.Load(),
		Queue:         s.queue.Stats(),
	}
}

// NodeOf returns the node the scheduler has a pod on, bound or assumed.
func (s *Scheduler) NodeOf(pod *corev1.Pod) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap.NodeOf(pod.UID)
}

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }
