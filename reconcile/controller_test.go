package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/raftfsm"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/queue"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestControllerRetriesWithBackoffThenForgets(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	var calls atomic.Int32
	var c *reconcile.Controller
	c = reconcile.NewController(reconcile.ControllerConfig{
		Name: "test", Workers: 3, Queue: queue.Config{Clock: clk},
		Sync: func(ctx context.Context, key string) error {
			if n := calls.Add(1); n <= 2 {
				return fmt.Errorf("failure %d", n)
			}
			return nil
		},
	})
	run(t, c)
	c.Enqueue("default/x")
	eventually(t, "the first sync and its retry timer", func() bool { return calls.Load() == 1 && clk.HasWaiters() })
	if n := c.Queue().NumRequeues("default/x"); n != 1 {
		t.Fatalf("requeues %d, want 1", n)
	}
	clk.Step(4 * time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if calls.Load() != 1 {
		t.Fatal("retried before the 5 ms backoff")
	}
	clk.Step(time.Millisecond)
	eventually(t, "the second sync and its retry timer", func() bool { return calls.Load() == 2 && clk.HasWaiters() })
	clk.Step(10 * time.Millisecond)
	eventually(t, "the third sync", func() bool { return calls.Load() == 3 })
	eventually(t, "the failures forgotten", func() bool { return c.Queue().NumRequeues("default/x") == 0 })
}

func TestControllerSyncsAKeyOnceAtATime(t *testing.T) {
	var inFlight, overlaps, calls atomic.Int32
	c := reconcile.NewController(reconcile.ControllerConfig{
		Name: "test", Workers: 4,
		Sync: func(ctx context.Context, key string) error {
			if inFlight.Add(1) > 1 {
				overlaps.Add(1)
			}
			time.Sleep(time.Millisecond)
			inFlight.Add(-1)
			calls.Add(1)
			return nil
		},
	})
	run(t, c)
	for range 200 {
		c.Enqueue("default/x")
	}
	eventually(t, "the queue to drain", func() bool { return c.Queue().Len() == 0 && inFlight.Load() == 0 })
	if overlaps.Load() > 0 {
		t.Fatalf("one key was synced by two workers at once (%d times)", overlaps.Load())
	}
	if calls.Load() >= 200 {
		t.Fatalf("%d syncs for 200 adds of one key: duplicates were not collapsed", calls.Load())
	}
}

// slowList holds lists until released.
type slowList struct {
	storage.Store
	release chan struct{}
}

func (s slowList) List(ctx context.Context, res *resources.Resource, opts storage.ListOptions) (*storage.ListResult, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.List(ctx, res, opts)
}

func TestControllerWaitsForItsInformers(t *testing.T) {
	s := slowList{Store: newStore(t, raftfsm.FSMConfig{}), release: make(chan struct{})}
	inf := reconcile.NewInformer(reconcile.InformerConfig{Reader: s, Resource: resource(t, "Pod")})
	var calls atomic.Int32
	c := reconcile.NewController(reconcile.ControllerConfig{
		Name: "test", WaitFor: []*reconcile.Informer{inf},
		Sync: func(context.Context, string) error { calls.Add(1); return nil },
	})
	run(t, inf)
	run(t, c)
	c.Enqueue("default/x")
	time.Sleep(30 * time.Millisecond)
	if calls.Load() != 0 {
		t.Fatal("synced before the informer had listed")
	}
	close(s.release)
	eventually(t, "the sync", func() bool { return calls.Load() == 1 })
}

type loopFunc func(ctx context.Context) error

func (f loopFunc) Run(ctx context.Context) error { return f(ctx) }

func TestRunAllStopsEveryLoopWithTheContext(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var stopped atomic.Int32
	wait := func(ctx context.Context) error { <-ctx.Done(); stopped.Add(1); return nil }
	broken := errors.New("broken")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- reconcile.RunAll(ctx, log, loopFunc(wait), reconcile.Name("early", loopFunc(func(context.Context) error { return broken })), loopFunc(wait))
	}()
	eventually(t, "the early loop to be logged", func() bool { return strings.Contains(logs.String(), "loop=early") })
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunAll did not return")
	}
	if stopped.Load() != 2 {
		t.Errorf("%d loops stopped, want 2", stopped.Load())
	}
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), "early") {
		t.Errorf("RunAll = %v", err)
	}
}

func TestExpectations(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	e := reconcile.NewExpectations(clk, time.Minute)
	if !e.Satisfied("rs") {
		t.Fatal("nothing expected, yet not satisfied")
	}
	e.ExpectCreations("rs", "ns/a", "ns/b")
	e.ExpectDeletions("rs", "ns/c")
	steps := []struct {
		do        func()
		satisfied bool
		creates   int
		deletes   int
	}{
		{func() {}, false, 2, 1},
		{func() { e.CreationObserved("rs", "ns/a") }, false, 1, 1},
		{func() { e.CreationObserved("rs", "ns/a") }, false, 1, 1}, // twice is once
		{func() { e.CreationObserved("other", "ns/b") }, false, 1, 1},
		{func() { e.DeletionObserved("rs", "ns/b") }, false, 1, 1}, // a deletion is not a creation
		{func() { e.CreationObserved("rs", "ns/b") }, false, 0, 1},
		{func() { e.DeletionObserved("rs", "ns/c") }, true, 0, 0},
	}
	for i, s := range steps {
		s.do()
		if got := e.Satisfied("rs"); got != s.satisfied {
			t.Fatalf("step %d: satisfied %v", i, got)
		}
		if c, d := e.Pending("rs"); c != s.creates || d != s.deletes {
			t.Fatalf("step %d: pending %d creates %d deletes", i, c, d)
		}
	}

	e.ExpectCreations("rs", "ns/x")
	clk.Step(59 * time.Second)
	if e.Satisfied("rs") {
		t.Fatal("satisfied before the TTL")
	}
	clk.Step(time.Second)
	if !e.Satisfied("rs") {
		t.Fatal("an expectation outlived its TTL")
	}
	e.ExpectDeletions("rs", "ns/y")
	e.Forget("rs")
	if !e.Satisfied("rs") {
		t.Fatal("Forget kept the expectations")
	}
}

func TestExpectationsConcurrentUse(t *testing.T) {
	e := reconcile.NewExpectations(nil, 0)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("ns/p%d", i)
			e.ExpectCreations("rs", key)
			e.Satisfied("rs")
			e.CreationObserved("rs", key)
		}()
	}
	wg.Wait()
	if !e.Satisfied("rs") {
		t.Fatal("every creation observed, yet not satisfied")
	}
}
