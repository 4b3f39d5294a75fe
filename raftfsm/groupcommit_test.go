package raftfsm

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// heldFuture is an ApplyFuture the test completes by hand.
type heldFuture struct {
	raft.ApplyFuture
	done chan struct{}
}

func (f *heldFuture) Error() error { <-f.done; return nil }

// recordingRaft records what reaches Raft, in order, and holds every
// entry's future until the test releases it.
type recordingRaft struct {
	mu      sync.Mutex
	applied []string
	futures []*heldFuture
	arrived chan struct{}
}

func (r *recordingRaft) Apply(cmd []byte, _ time.Duration) raft.ApplyFuture {
	f := &heldFuture{done: make(chan struct{})}
	r.mu.Lock()
	r.applied = append(r.applied, string(cmd))
	r.futures = append(r.futures, f)
	r.mu.Unlock()
	r.arrived <- struct{}{}
	return f
}

func (r *recordingRaft) release(i int) { close(r.futures[i].done) }

func (r *recordingRaft) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.applied...)
}

func TestGroupCommitGathersWritesWhileGroupsAreInFlight(t *testing.T) {
	r := &recordingRaft{arrived: make(chan struct{}, 100)}
	g := newGroupCommitN(r, 512, 2)
	submit := func(name string) <-chan struct{} {
		done := make(chan struct{})
		go func() { g.apply([]byte(name)); close(done) }()
		return done
	}
	waitArrivals := func(n int) {
		t.Helper()
		for range n {
			select {
			case <-r.arrived:
			case <-time.After(5 * time.Second):
				t.Fatalf("only %v reached raft", r.snapshot())
			}
		}
	}

	// Lone writes find a free slot and go at once, one group each.
	<-submit("a")
	waitArrivals(1)
	<-submit("b")
	waitArrivals(1)
	if got := r.snapshot(); fmt.Sprint(got) != "[a b]" {
		t.Fatalf("raft got %v, want [a b]", got)
	}

	// Both slots are taken (a and b are not applied yet): the next writes
	// wait, all of them, for one to free.
	var waiting []<-chan struct{}
	for i := range 5 {
		waiting = append(waiting, submit(fmt.Sprintf("w%d", i)))
	}
	time.Sleep(50 * time.Millisecond)
	if got := r.snapshot(); len(got) != 2 {
		t.Fatalf("writes reached raft while every group was in flight: %v", got)
	}
	r.release(0)
	waitArrivals(5)
	for _, w := range waiting {
		<-w
	}
	if got := r.snapshot(); len(got) != 7 {
		t.Fatalf("raft got %v, want the five waiting writes after a and b", got)
	}
	// They went as one group, which holds one slot (b holds the other)
	// until its last entry is through.
	x := submit("x")
	for i := 2; i < 6; i++ {
		r.release(i)
	}
	time.Sleep(50 * time.Millisecond)
	if got := r.snapshot(); len(got) != 7 {
		t.Fatalf("x reached raft before the group before it was through: %v", got)
	}
	r.release(6)
	waitArrivals(1)
	<-x
	if got := r.snapshot(); got[len(got)-1] != "x" {
		t.Fatalf("raft got %v, want x last", got)
	}
}

func TestGroupCommitKeepsABatchInOrder(t *testing.T) {
	r := &recordingRaft{arrived: make(chan struct{}, 100)}
	g := newGroupCommitN(r, 3, 2)
	cmds := [][]byte{[]byte("1"), []byte("2"), []byte("3"), []byte("4"), []byte("5")}
	done := make(chan []raft.ApplyFuture)
	go func() { done <- g.apply(cmds...) }()
	// Groups of at most three: 1-3 take one slot, 4-5 the other.
	for range 5 {
		<-r.arrived
	}
	futures := <-done
	if len(futures) != 5 {
		t.Fatalf("got %d futures", len(futures))
	}
	if got := r.snapshot(); fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("raft got %v, want 1..5 in order", got)
	}
}

// After a group of lingerAfter writes or more, the next group waits
// groupLinger for company; after a small one it goes at once.
func TestGroupCommitLingersOnlyUnderLoad(t *testing.T) {
	r := &recordingRaft{arrived: make(chan struct{}, 100)}
	g := newGroupCommitN(r, 512, 2)
	slept := make(chan time.Duration, 10)
	g.sleep = func(d time.Duration) { slept <- d }
	noSleep := func() {
		t.Helper()
		select {
		case d := <-slept:
			t.Fatalf("lingered %s after a small group", d)
		default:
		}
	}

	cmds := make([][]byte, lingerAfter)
	for i := range cmds {
		cmds[i] = []byte(fmt.Sprintf("big%d", i))
	}
	// Two small groups hold both slots, so that the lingerAfter writes
	// queue and go as one group when a slot frees.
	done := make(chan struct{})
	go func() { g.apply([]byte("small")); close(done) }()
	<-r.arrived
	<-done
	noSleep()
	go func() { g.apply([]byte("second")) }() // takes the other slot
	<-r.arrived
	noSleep()
	go func() { g.apply(cmds...) }() // waits for a slot, then goes as one group
	time.Sleep(50 * time.Millisecond)
	r.release(0)
	for range lingerAfter {
		<-r.arrived
	}
	noSleep() // the group before it was small
	// The next lone write follows a group of lingerAfter: it lingers, in
	// steps, for no longer than groupLinger in all (nothing else comes).
	r.release(1)
	go func() { g.apply([]byte("after-big")) }()
	<-r.arrived
	var total time.Duration
	for len(slept) > 0 {
		total += <-slept
	}
	if total != groupLinger {
		t.Fatalf("lingered %s in all, want %s", total, groupLinger)
	}
}

// As configured, groupInflight groups are in flight at a time.
func TestGroupCommitHoldsGroupInflightGroups(t *testing.T) {
	r := &recordingRaft{arrived: make(chan struct{}, 100)}
	g := newGroupCommit(r, 512)
	for i := range groupInflight {
		go g.apply([]byte(fmt.Sprint(i)))
		<-r.arrived
	}
	go g.apply([]byte("waits"))
	select {
	case <-r.arrived:
		t.Fatalf("a write reached raft while %d groups were in flight: %v", groupInflight, r.snapshot())
	case <-time.After(50 * time.Millisecond):
	}
	r.release(0)
	select {
	case <-r.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting write did not follow once a group was through")
	}
}
