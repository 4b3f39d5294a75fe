package queue

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func newFake() (*Queue, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	return New(Config{Clock: clk}), clk
}

func get(t *testing.T, q *Queue) string {
	t.Helper()
	if q.Len() == 0 {
		t.Fatal("nothing ready")
	}
	key, shut := q.Get()
	if shut {
		t.Fatal("queue shut down")
	}
	return key
}

func TestAddCollapsesDuplicates(t *testing.T) {
	q, _ := newFake()
	for _, k := range []string{"a", "b", "a", "c", "b"} {
		q.Add(k)
	}
	if q.Len() != 3 {
		t.Fatalf("len %d, want 3", q.Len())
	}
	for _, want := range []string{"a", "b", "c"} {
		if got := get(t, q); got != want {
			t.Fatalf("got %q, want %q (FIFO)", got, want)
		}
	}
}

func TestKeyAddedWhileProcessingComesBackAfterDone(t *testing.T) {
	q, _ := newFake()
	q.Add("a")
	k := get(t, q)
	q.Add("a")
	q.Add("a")
	if q.Len() != 0 {
		t.Fatalf("a key being processed was handed out again (len %d)", q.Len())
	}
	q.Done(k)
	if q.Len() != 1 {
		t.Fatalf("len %d after Done, want 1", q.Len())
	}
	q.Done(get(t, q))
	if q.Len() != 0 {
		t.Fatalf("len %d, want 0", q.Len())
	}
}

func TestBackoffTable(t *testing.T) {
	q := New(Config{})
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 5 * time.Millisecond},
		{1, 10 * time.Millisecond},
		{2, 20 * time.Millisecond},
		{10, 5120 * time.Millisecond},
		{13, 40960 * time.Millisecond},
		{14, 60 * time.Second},
		{200, 60 * time.Second},
	} {
		if got := q.backoff(tc.failures); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
	custom := New(Config{BaseDelay: time.Second, MaxDelay: 3 * time.Second})
	if got := custom.backoff(5); got != 3*time.Second {
		t.Errorf("custom max: %v", got)
	}
}

func TestAddRateLimitedWaitsItsBackoffAndForgetResets(t *testing.T) {
	q, clk := newFake()
	for i, wait := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond} {
		q.AddRateLimited("a")
		if q.NumRequeues("a") != i+1 {
			t.Fatalf("requeues %d, want %d", q.NumRequeues("a"), i+1)
		}
		clk.Step(wait - time.Millisecond)
		if q.Len() != 0 {
			t.Fatalf("retry %d ready before its backoff", i)
		}
		clk.Step(time.Millisecond)
		if q.Len() != 1 {
			t.Fatalf("retry %d not ready after %v", i, wait)
		}
		q.Done(get(t, q))
	}
	q.Forget("a")
	if q.NumRequeues("a") != 0 {
		t.Fatal("Forget kept the failures")
	}
	q.AddRateLimited("a")
	clk.Step(5 * time.Millisecond)
	if q.Len() != 1 {
		t.Fatal("after Forget the backoff did not start again from the base delay")
	}
}

func TestAddAfterEarliestWins(t *testing.T) {
	q, clk := newFake()
	q.AddAfter("a", 10*time.Second)
	q.AddAfter("a", time.Second)
	q.AddAfter("a", 20*time.Second) // later than pending: ignored
	clk.Step(time.Second)
	if q.Len() != 1 {
		t.Fatalf("len %d after 1s, want 1", q.Len())
	}
	q.Done(get(t, q))
	if clk.Waiters() != 0 {
		t.Fatalf("%d timers left; the superseded one should be stopped", clk.Waiters())
	}
	clk.Step(time.Minute)
	if q.Len() != 0 {
		t.Fatalf("a superseded delay added the key again")
	}

	q.Add("b")
	q.AddAfter("b", time.Second)
	clk.Step(time.Second)
	if q.Len() != 1 {
		t.Fatalf("a ready key was added twice (len %d)", q.Len())
	}
	q.AddAfter("c", 0)
	if q.Len() != 2 {
		t.Fatal("AddAfter with no delay is Add")
	}
}

func TestShutDown(t *testing.T) {
	q, clk := newFake()
	q.Add("ready")
	q.AddAfter("later", time.Second)
	got := make(chan bool)
	q.Add("x")
	k1 := get(t, q) // ready
	k2 := get(t, q) // x
	go func() {
		_, shut := q.Get()
		got <- shut
	}()
	q.ShutDown()
	select {
	case shut := <-got:
		if !shut {
			t.Fatal("Get did not report the shutdown")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Get still blocked after ShutDown")
	}
	if clk.Waiters() != 0 {
		t.Fatal("ShutDown left a timer")
	}
	q.Add("y")
	q.AddAfter("z", time.Second)
	q.AddRateLimited("w")
	q.Done(k1)
	q.Add(k2)
	q.Done(k2)
	if q.Len() != 0 || !q.ShuttingDown() {
		t.Fatal("a shut-down queue took keys")
	}
	if _, shut := q.Get(); !shut {
		t.Fatal("Get handed out a key after ShutDown")
	}
}

// TestNeverConcurrentlyAndNothingLost hammers a few keys from several
// producers and workers: a key is never processed by two workers at once,
// and the last change to each key is always processed after it was made.
func TestNeverConcurrentlyAndNothingLost(t *testing.T) {
	q := New(Config{BaseDelay: time.Microsecond, MaxDelay: time.Millisecond})
	const keys, producers, workers, adds = 5, 4, 6, 500
	var inFlight [keys]atomic.Int32
	var version, seen [keys]atomic.Int64
	var violations atomic.Int32

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, shut := q.Get()
				if shut {
					return
				}
				var i int
				fmt.Sscanf(key, "k%d", &i)
				if inFlight[i].Add(1) != 1 {
					violations.Add(1)
				}
				v := version[i].Load()
				time.Sleep(time.Microsecond)
				seen[i].Store(v)
				inFlight[i].Add(-1)
				if v%7 == 0 {
					q.AddRateLimited(key)
				} else {
					q.Forget(key)
				}
				q.Done(key)
			}
		}()
	}
	var pw sync.WaitGroup
	for p := 0; p < producers; p++ {
		pw.Add(1)
		go func(p int) {
			defer pw.Done()
			for n := 0; n < adds; n++ {
				i := (n + p) % keys
				version[i].Add(1)
				q.Add(fmt.Sprintf("k%d", i))
			}
		}(p)
	}
	pw.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < keys; i++ {
		for seen[i].Load() != version[i].Load() {
			if time.Now().After(deadline) {
				t.Fatalf("k%d: last change %d never processed (saw %d)", i, version[i].Load(), seen[i].Load())
			}
			time.Sleep(time.Millisecond)
		}
	}
	q.ShutDown()
	wg.Wait()
	if n := violations.Load(); n > 0 {
		t.Fatalf("%d times a key was processed by two workers at once", n)
	}
}

func TestIdle(t *testing.T) {
	q, clk := newFake()
	if !q.Idle() {
		t.Fatal("a new queue is not idle")
	}
	q.AddAfter("later", time.Second)
	if !q.Idle() {
		t.Fatal("a delayed key makes the queue busy before it is due")
	}
	q.Add("a")
	if q.Idle() {
		t.Fatal("idle with a key ready")
	}
	k := get(t, q)
	if q.Idle() {
		t.Fatal("idle while a key is processed")
	}
	q.Add(k) // due again after Done
	q.Done(k)
	if q.Idle() {
		t.Fatal("idle with a key due again")
	}
	q.Done(get(t, q))
	if !q.Idle() {
		t.Fatal("not idle once everything is done")
	}
	clk.Step(time.Second)
	if q.Idle() {
		t.Fatal("idle with the delayed key due")
	}
}
