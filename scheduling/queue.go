package scheduling

import (
	"container/heap"
	"context"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// QueueConfig tunes the [Queue].
type QueueConfig struct {
	// InitialBackoff is how long a pod waits after its first failed
	// attempt; each further failure doubles it up to MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// UnschedulableFlush is how long an unschedulable pod waits for a
	// cluster event before it is retried anyway.
	UnschedulableFlush time.Duration
	// FlushInterval is how often Run moves pods whose backoff ended.
	FlushInterval time.Duration
}

// DefaultQueueConfig: backoff 1 s doubling to 10 s, unschedulable pods
// retried at least every 60 s, flushed every second.
func DefaultQueueConfig() QueueConfig {
	return QueueConfig{
		InitialBackoff:     time.Second,
		MaxBackoff:         10 * time.Second,
		UnschedulableFlush: 60 * time.Second,
		FlushInterval:      time.Second,
	}
}

// ClusterEvent is a change that may let unschedulable pods fit.
type ClusterEvent int

const (
	// EventNodeAdd: a node appeared.
	EventNodeAdd ClusterEvent = iota
	// EventNodeUpdate: a node's labels, taints, allocatable, readiness or
	// cordon changed.
	EventNodeUpdate
	// EventPodDelete: a pod left a node (deleted, terminated, or its
	// assumption dropped), freeing resources and ports.
	EventPodDelete
	// EventVolumeChange: a claim, volume or storage class appeared or
	// changed (bound, given a node).
	EventVolumeChange
)

// String names the event.
func (e ClusterEvent) String() string {
	switch e {
	case EventNodeAdd:
		return "NodeAdd"
	case EventNodeUpdate:
		return "NodeUpdate"
	case EventPodDelete:
		return "PodDelete"
	case EventVolumeChange:
		return "VolumeChange"
	}
	return "Unknown"
}

// helps reports whether ev could make a pod that the given filters refused
// fit. Node events can change anything a filter looks at; a pod leaving
// only frees resources and ports; a volume change helps only pods that
// waited for their volumes. A pod refused by no filter in particular
// (no nodes at all) moves on any event.
func (e ClusterEvent) helps(plugins sets.Set[string]) bool {
	switch {
	case plugins.Len() == 0 || e == EventNodeAdd || e == EventNodeUpdate:
		return true
	case e == EventVolumeChange:
		return plugins.Has(VolumeBindingName)
	}
	return plugins.Has(NodeResourcesFitName) || plugins.Has(HostPortsName)
}

// where a queued pod is.
type where int

const (
	inActive where = iota
	inBackoff
	inUnschedulable
	inFlight // popped; being scheduled or bound
)

// QueuedPod is a pod in the queue with its scheduling history.
type QueuedPod struct {
	*PodInfo
	// Attempts counts the times the pod was popped.
	Attempts int

	where     where
	seq       uint64    // arrival order, the last tie-breaker
	until     time.Time // end of backoff
	since     time.Time // when it became unschedulable
	plugins   sets.Set[string]
	popCycle  uint64      // the queue's move cycle when popped
	pending   *corev1.Pod // newest version seen while in flight
	updated   bool        // whether that version changed the spec
	heapIndex int         // in the active or backoff heap
	heapOwner *podHeap    // which heap, if any
}

// Queue holds the pods waiting to be scheduled: an active heap ordered by
// spec.priority (higher first) then creation time, a backoff heap of pods
// whose last attempt failed recently, and a set of unschedulable pods that
// wait for a cluster event ([Queue.MoveAll]) or the periodic flush. Each
// pod is in it at most once (by UID), including while it is being
// scheduled and bound ("in flight"), so an update arriving meanwhile is
// kept for the next attempt instead of queuing the pod twice.
type Queue struct {
	cfg   QueueConfig
	clock clock.WithTicker

	mu            sync.Mutex
	pods          map[types.UID]*QueuedPod
	active        podHeap
	backoff       podHeap
	unschedulable map[types.UID]*QueuedPod
	seq           uint64
	moveCycle     uint64
	wake          chan struct{}
}

// NewQueue returns an empty queue; zero fields of cfg take the defaults.
func NewQueue(c clock.WithTicker, cfg QueueConfig) *Queue {
	def := DefaultQueueConfig()
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = def.InitialBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = def.MaxBackoff
	}
	if cfg.UnschedulableFlush <= 0 {
		cfg.UnschedulableFlush = def.UnschedulableFlush
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = def.FlushInterval
	}
	if c == nil {
		c = clock.RealClock{}
	}
	return &Queue{
		cfg:           cfg,
		clock:         c,
		pods:          map[types.UID]*QueuedPod{},
		active:        podHeap{less: byPriority},
		backoff:       podHeap{less: byBackoff},
		unschedulable: map[types.UID]*QueuedPod{},
		wake:          make(chan struct{}, 1),
	}
}

// Add queues a pod that needs scheduling, or replaces the queued version
// of it. An unschedulable pod whose spec or metadata changed is retried
// (after its backoff); a status-only change (such as the PodScheduled
// condition the Recorder writes) just replaces it. A pod in flight keeps
// the new version for its next attempt.
func (q *Queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp, ok := q.pods[pod.UID]
	if !ok {
		q.seq++
		qp = &QueuedPod{PodInfo: NewPodInfo(pod), seq: q.seq, heapIndex: -1}
		q.pods[pod.UID] = qp
		q.pushActive(qp)
		return
	}
	switch qp.where {
	case inFlight:
		prev := qp.Pod
		if qp.pending != nil {
			prev = qp.pending
		}
		qp.updated = qp.updated || specChanged(prev, pod)
		qp.pending = pod
	case inActive:
		qp.PodInfo = NewPodInfo(pod)
		heap.Fix(&q.active, qp.heapIndex)
	case inBackoff:
		qp.PodInfo = NewPodInfo(pod)
	case inUnschedulable:
		changed := specChanged(qp.Pod, pod)
		qp.PodInfo = NewPodInfo(pod)
		if changed {
			delete(q.unschedulable, pod.UID)
			q.requeue(qp, q.clock.Now())
		}
	}
}

// specChanged reports whether an update changes more than the pod's
// status and bookkeeping: something a filter or score could read.
func specChanged(old, pod *corev1.Pod) bool {
	return !maps.Equal(old.Labels, pod.Labels) ||
		!maps.Equal(old.Annotations, pod.Annotations) ||
		!equality.Semantic.DeepEqual(old.OwnerReferences, pod.OwnerReferences) ||
		!equality.Semantic.DeepEqual(&old.Spec, &pod.Spec)
}

// Delete removes a pod (deleted, bound, or no longer ours). A pod in
// flight is forgotten: its attempt's outcome will not queue it again.
func (q *Queue) Delete(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	qp, ok := q.pods[uid]
	if !ok {
		return
	}
	delete(q.pods, uid)
	switch qp.where {
	case inActive, inBackoff:
		heap.Remove(qp.heapOwner, qp.heapIndex)
	case inUnschedulable:
		delete(q.unschedulable, uid)
	}
}

// Has reports whether the pod is in the queue, in flight included.
func (q *Queue) Has(uid types.UID) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.pods[uid]
	return ok
}

// Pop waits for the highest-priority active pod and marks it in flight.
// It returns ctx's error when ctx ends first.
func (q *Queue) Pop(ctx context.Context) (*QueuedPod, error) {
	for {
		q.mu.Lock()
		if q.active.Len() > 0 {
			qp := heap.Pop(&q.active).(*QueuedPod)
			qp.where = inFlight
			qp.Attempts++
			qp.popCycle = q.moveCycle
			more := q.active.Len() > 0
			q.mu.Unlock()
			if more {
				q.signal() // let another popper in
			}
			return qp, nil
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.wake:
		}
	}
}

// Done ends the flight of a pod whose binding was written: it leaves the
// queue. Events then see it as bound.
func (q *Queue) Done(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if qp, ok := q.pods[uid]; ok && qp.where == inFlight {
		delete(q.pods, uid)
	}
}

// AddUnschedulable returns a pod whose attempt found no node. It waits
// until an event that could help one of the refusing filters (plugins)
// happens, or the flush timeout. If such an event happened while it was in
// flight, or its spec changed meanwhile, it goes to backoff instead. A pod
// deleted or bound meanwhile is dropped.
func (q *Queue) AddUnschedulable(qp *QueuedPod, plugins sets.Set[string]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[qp.Pod.UID] != qp || qp.where != inFlight {
		return
	}
	now := q.clock.Now()
	qp.until = now.Add(q.backoffFor(qp.Attempts))
	qp.plugins = plugins
	if qp.updated || q.moveCycle > qp.popCycle {
		q.takePending(qp)
		q.requeue(qp, now)
		return
	}
	q.takePending(qp)
	qp.where = inUnschedulable
	qp.since = now
	q.unschedulable[qp.Pod.UID] = qp
}

// AddBackoff returns a pod whose attempt failed for a reason other than
// fit (its binding failed, an internal error): it is retried after its
// backoff.
func (q *Queue) AddBackoff(qp *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[qp.Pod.UID] != qp || qp.where != inFlight {
		return
	}
	now := q.clock.Now()
	qp.until = now.Add(q.backoffFor(qp.Attempts))
	q.takePending(qp)
	q.requeue(qp, now)
}

// MoveAll retries the unschedulable pods ev could help: into the active
// heap, or the backoff heap while their backoff lasts.
func (q *Queue) MoveAll(ev ClusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveCycle++
	now := q.clock.Now()
	for uid, qp := range q.unschedulable {
		if ev.helps(qp.plugins) {
			delete(q.unschedulable, uid)
			q.requeue(qp, now)
		}
	}
}

// Flush moves pods whose backoff ended to the active heap, and pods
// unschedulable for longer than the flush timeout out of the unschedulable
// set.
func (q *Queue) Flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for q.backoff.Len() > 0 && !q.backoff.items[0].until.After(now) {
		q.pushActive(heap.Pop(&q.backoff).(*QueuedPod))
	}
	for uid, qp := range q.unschedulable {
		if now.Sub(qp.since) >= q.cfg.UnschedulableFlush {
			delete(q.unschedulable, uid)
			q.requeue(qp, now)
		}
	}
}

// Run flushes every FlushInterval until ctx ends.
func (q *Queue) Run(ctx context.Context) {
	t := q.clock.NewTicker(q.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			q.Flush()
		}
	}
}

// QueueStats counts the pods by where they wait.
type QueueStats struct {
	Active, Backoff, Unschedulable, InFlight int
}

// Stats counts the queued pods.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := QueueStats{Active: q.active.Len(), Backoff: q.backoff.Len(), Unschedulable: len(q.unschedulable)}
	s.InFlight = len(q.pods) - s.Active - s.Backoff - s.Unschedulable
	return s
}

// backoffFor is InitialBackoff doubled per attempt after the first, capped.
func (q *Queue) backoffFor(attempts int) time.Duration {
	d := q.cfg.InitialBackoff
	for i := 1; i < attempts && d < q.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.cfg.MaxBackoff)
}

func (q *Queue) takePending(qp *QueuedPod) {
	if qp.pending != nil {
		qp.PodInfo = NewPodInfo(qp.pending)
		qp.pending = nil
	}
	qp.updated = false
}

// requeue puts a pod that is in no heap into the backoff heap while its
// backoff lasts, else into the active one.
func (q *Queue) requeue(qp *QueuedPod, now time.Time) {
	if qp.until.After(now) {
		qp.where = inBackoff
		heap.Push(&q.backoff, qp)
		return
	}
	q.pushActive(qp)
}

func (q *Queue) pushActive(qp *QueuedPod) {
	qp.where = inActive
	heap.Push(&q.active, qp)
	q.signal()
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func podPriority(p *corev1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

// byPriority: higher priority first, then older, then earlier arrival.
func byPriority(a, b *QueuedPod) bool {
	if pa, pb := podPriority(a.Pod), podPriority(b.Pod); pa != pb {
		return pa > pb
	}
	ta, tb := a.Pod.CreationTimestamp.Time, b.Pod.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.seq < b.seq
}

// byBackoff: earliest end of backoff first.
func byBackoff(a, b *QueuedPod) bool {
	if !a.until.Equal(b.until) {
		return a.until.Before(b.until)
	}
	return a.seq < b.seq
}

// podHeap is a container/heap of queued pods that keeps each pod's index.
type podHeap struct {
	items []*QueuedPod
	less  func(a, b *QueuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].heapIndex = i
	h.items[j].heapIndex = j
}

func (h *podHeap) Push(x any) {
	qp := x.(*QueuedPod)
	qp.heapIndex = len(h.items)
	qp.heapOwner = h
	h.items = append(h.items, qp)
}

func (h *podHeap) Pop() any {
	n := len(h.items) - 1
	qp := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	qp.heapIndex = -1
	qp.heapOwner = nil
	return qp
}
