package scheduling

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func newTestQueue() (*Queue, *clocktesting.FakeClock) {
	c := clocktesting.NewFakeClock(testEpoch)
	return NewQueue(c, DefaultQueueConfig()), c
}

// popNow pops without waiting; "" when the active heap is empty.
func popNow(t *testing.T, q *Queue) *QueuedPod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	qp, err := q.Pop(ctx)
	if err != nil {
		return nil
	}
	return qp
}

func popName(t *testing.T, q *Queue) string {
	t.Helper()
	if qp := popNow(t, q); qp != nil {
		return qp.Pod.Name
	}
	return ""
}

func TestQueueOrder(t *testing.T) {
	q, _ := newTestQueue()
	q.Add(makePod("old-low", created(-time.Hour)))
	q.Add(makePod("new-high", priority(100), created(time.Hour)))
	q.Add(makePod("old-high", priority(100), created(-time.Hour)))
	q.Add(makePod("mid", created(0)))
	q.Add(makePod("mid-later-arrival", created(0)))
	q.Add(makePod("negative", priority(-5), created(-2*time.Hour)))
	var got []string
	for range 6 {
		got = append(got, popName(t, q))
	}
	want := []string{"old-high", "new-high", "old-low", "mid", "mid-later-arrival", "negative"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
	if popNow(t, q) != nil {
		t.Fatal("queue should be empty")
	}
}

func TestQueueDedupUpdateDelete(t *testing.T) {
	q, _ := newTestQueue()
	q.Add(makePod("a"))
	q.Add(makePod("a"))
	q.Add(makePod("b"))
	if s := q.Stats(); s.Active != 2 {
		t.Fatalf("dedup by UID: %+v", s)
	}
	q.Add(makePod("b", priority(10))) // the update reorders it
	if got := popName(t, q); got != "b" {
		t.Fatalf("updated pod not first: %s", got)
	}
	q.Delete("a")
	if q.Has("a") || popNow(t, q) != nil {
		t.Fatal("deleted pod still queued")
	}
}

func TestQueueBackoffDoublesToMax(t *testing.T) {
	q, c := newTestQueue()
	q.Add(makePod("p"))
	for _, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		qp := popNow(t, q)
		if qp == nil {
			t.Fatal("pod not active")
		}
		q.AddBackoff(qp)
		c.Step(want*time.Second - time.Millisecond)
		q.Flush()
		if q.Stats().Active != 0 {
			t.Fatalf("attempt %d: active before its %ds backoff ended", qp.Attempts, want)
		}
		c.Step(time.Millisecond)
		q.Flush()
		if s := q.Stats(); s.Active != 1 {
			t.Fatalf("attempt %d: not active after %ds: %+v", qp.Attempts, want, s)
		}
	}
}

func TestQueueUnschedulableWaitsForAnEvent(t *testing.T) {
	q, c := newTestQueue()
	q.Add(makePod("p"))
	qp := popNow(t, q)
	q.AddUnschedulable(qp, setOf(NodeSelectorName))
	c.Step(30 * time.Second) // backoff long over
	q.Flush()
	if s := q.Stats(); s.Unschedulable != 1 || s.Active != 0 {
		t.Fatalf("without an event: %+v", s)
	}
	q.MoveAll(EventPodDelete) // cannot help a node selector
	if s := q.Stats(); s.Unschedulable != 1 {
		t.Fatalf("pod delete moved a selector failure: %+v", s)
	}
	q.MoveAll(EventNodeAdd)
	if got := popName(t, q); got != "p" {
		t.Fatalf("node add did not move the pod: %q", got)
	}
}

func TestQueueMoveRespectsBackoff(t *testing.T) {
	q, c := newTestQueue()
	q.Add(makePod("p"))
	q.AddUnschedulable(popNow(t, q), setOf(NodeResourcesFitName))
	q.MoveAll(EventPodDelete) // a pod left: resources may fit now, but backoff first
	if s := q.Stats(); s.Backoff != 1 {
		t.Fatalf("moved during backoff: %+v", s)
	}
	c.Step(time.Second)
	q.Flush()
	if got := popName(t, q); got != "p" {
		t.Fatalf("not active after backoff: %q", got)
	}
}

func TestQueueFlushesUnschedulableAfterTimeout(t *testing.T) {
	q, c := newTestQueue()
	q.Add(makePod("p"))
	q.AddUnschedulable(popNow(t, q), setOf(TaintTolerationName))
	c.Step(59 * time.Second)
	q.Flush()
	if q.Stats().Unschedulable != 1 {
		t.Fatal("flushed before 60 s")
	}
	c.Step(time.Second)
	q.Flush()
	if got := popName(t, q); got != "p" {
		t.Fatalf("not retried after 60 s: %q", got)
	}
}

func TestQueueInFlight(t *testing.T) {
	q, c := newTestQueue()
	q.Add(makePod("p"))
	qp := popNow(t, q)

	// An update while in flight does not queue the pod twice...
	q.Add(makePod("p", func(p *corev1.Pod) { p.ResourceVersion = "2" }))
	if s := q.Stats(); s.Active != 0 || s.InFlight != 1 {
		t.Fatalf("update in flight queued the pod: %+v", s)
	}
	// ...but the next attempt sees it.
	q.AddBackoff(qp)
	c.Step(time.Second)
	q.Flush()
	qp = popNow(t, q)
	if qp == nil || qp.Pod.ResourceVersion != "2" || qp.Attempts != 2 {
		t.Fatalf("retry = %+v", qp)
	}

	// A spec change while in flight sends an unschedulable pod to backoff,
	// not to wait for an event.
	q.Add(makePod("p", podLabels("new", "label"), func(p *corev1.Pod) { p.ResourceVersion = "3" }))
	q.AddUnschedulable(qp, setOf(NodeSelectorName))
	if s := q.Stats(); s.Backoff != 1 || s.Unschedulable != 0 {
		t.Fatalf("updated in flight: %+v", s)
	}
	c.Step(2 * time.Second)
	q.Flush()
	qp = popNow(t, q)

	// So does an event that happened while it was in flight.
	q.MoveAll(EventNodeAdd)
	q.AddUnschedulable(qp, setOf(NodeSelectorName))
	if s := q.Stats(); s.Backoff != 1 {
		t.Fatalf("event in flight: %+v", s)
	}
	c.Step(4 * time.Second)
	q.Flush()
	qp = popNow(t, q)

	// A pod deleted while in flight is not queued again.
	q.Delete("p")
	q.AddUnschedulable(qp, setOf(NodeSelectorName))
	q.AddBackoff(qp)
	if q.Has("p") || q.Stats() != (QueueStats{}) {
		t.Fatalf("deleted pod came back: %+v", q.Stats())
	}

	// Done: bound, it leaves.
	q.Add(makePod("d"))
	qp = popNow(t, q)
	q.Done(qp.Pod.UID)
	if q.Has("d") {
		t.Fatal("done pod still queued")
	}
}

func TestQueueStatusUpdatesDoNotRetry(t *testing.T) {
	q, c := newTestQueue()
	withStatus := func(rv string) podOpt {
		return func(p *corev1.Pod) {
			p.ResourceVersion = rv
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
		}
	}
	q.Add(makePod("p"))
	qp := popNow(t, q)
	q.Add(makePod("p", withStatus("2"))) // the Recorder's write of the last attempt
	q.AddUnschedulable(qp, setOf(NodeSelectorName))
	if s := q.Stats(); s.Unschedulable != 1 {
		t.Fatalf("status update in flight retried the pod: %+v", s)
	}
	c.Step(5 * time.Second)
	q.Add(makePod("p", withStatus("3")))
	q.Flush()
	if s := q.Stats(); s.Unschedulable != 1 {
		t.Fatalf("status update retried the pod: %+v", s)
	}
	q.MoveAll(EventNodeAdd)
	if qp := popNow(t, q); qp == nil || qp.Pod.ResourceVersion != "3" {
		t.Fatalf("retry did not carry the newest version: %+v", qp)
	}
}

func TestQueueUpdateRetriesUnschedulablePod(t *testing.T) {
	q, c := newTestQueue()
	q.Add(makePod("p", nodeSelector("disk", "ssd")))
	q.AddUnschedulable(popNow(t, q), setOf(NodeSelectorName))
	c.Step(time.Second)
	q.Add(makePod("p", func(p *corev1.Pod) { p.Spec.NodeSelector = nil }))
	if got := popName(t, q); got != "p" {
		t.Fatalf("updated unschedulable pod not retried: %q", got)
	}
}

func TestQueuePopWaits(t *testing.T) {
	q, _ := newTestQueue()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string)
	go func() {
		qp, err := q.Pop(ctx)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- qp.Pod.Name
	}()
	time.Sleep(5 * time.Millisecond)
	q.Add(makePod("p"))
	if name := <-got; name != "p" {
		t.Fatalf("Pop = %q", name)
	}
	go func() {
		_, err := q.Pop(ctx)
		got <- err.Error()
	}()
	cancel()
	if msg := <-got; msg != context.Canceled.Error() {
		t.Fatalf("Pop after cancel = %q", msg)
	}
}

func TestQueueRunFlushes(t *testing.T) {
	q, c := newTestQueue()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	q.Add(makePod("p"))
	q.AddBackoff(popNow(t, q))
	for !c.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	c.Step(time.Second)
	ctxPop, cancelPop := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelPop()
	if qp, err := q.Pop(ctxPop); err != nil || qp.Pod.Name != "p" {
		t.Fatalf("Run did not flush the backoff: %v", err)
	}
}
