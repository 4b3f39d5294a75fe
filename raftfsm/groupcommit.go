package raftfsm

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// groupCommit feeds the leader's writes to Raft in groups. Raft stores
// whatever waits in its apply channel as one batch (one bolt transaction
// and its fsyncs on every master), but left alone it takes each write the
// moment it arrives, so under load it stores many small batches: about a
// dozen entries each at 128 clients. Here a write waits while
// groupInflight groups are still on their way to being applied, and then
// goes with every other write that waited meanwhile. A lone write finds a
// free slot and goes at once, so light load pays nothing; heavy load gets
// batches several times larger, which costs the masters less per write.
//
// Under load a group also lingers: when the last group was not small, the
// next one waits up to groupLinger more for as many writes as it held. On
// skiff-bench (3 masters sharing 2 cores) lingering raised creates/s by
// about a tenth at 16 and at 128 clients and lowered the masters' CPU per
// write as much: the writes that gather meanwhile would otherwise each pay
// for more of a bolt transaction and its fsyncs. Going as soon as the group
// is as large as the last (rather than after the full groupLinger) added
// another 5-25% at 16 clients in three pairs of runs.
type groupCommit struct {
	raft     raftApplier
	inflight *kindsInFlight // what the groups on their way write
	queue    chan *groupReq
	slots    chan struct{}
	maxGroup int
	sleep    func(time.Duration)
	started  sync.Once
}

// raftApplier is the part of *raft.Raft group commit uses.
type raftApplier interface {
	Apply(cmd []byte, timeout time.Duration) raft.ApplyFuture
}

type groupReq struct {
	cmd    []byte
	future chan raft.ApplyFuture
	// kind and anyKind are what inflight counts cmd as.
	kind    string
	anyKind bool
}

// groupInflight is how many groups may be between Raft's apply channel and
// the FSM at once. With two, the leader could store one group while the
// followers stored the one before; but each group costs every master a
// bolt commit, two fdatasyncs, and on this shared machine fdatasync takes
// 7-30% of the masters' CPU. With one, groups are twice as large. In
// skiff-bench runs taken in turns, one instead of two gave 13-42% more
// creates/s at 16 clients (four pairs), about the same at 128 (eight pairs
// from -15% to +33%, 2.5% more in all) with 8% less CPU per write, and a
// watch delivery p99 of 14-28 ms (median 15.7) against 14-30 ms (median
// 18.1).
// (Before followers answered forwarded writes without waiting for their
// own apply, one had been no faster in full runs and had slowed watches.)
const groupInflight = 1

// A group lingers after a group of at least lingerAfter writes, for at
// most groupLinger, looking at the queue every lingerStep.
const (
	lingerAfter = 8
	groupLinger = time.Millisecond
	lingerStep  = groupLinger / 10
)

func newGroupCommit(r raftApplier, maxGroup int) *groupCommit {
	return newGroupCommitN(r, maxGroup, groupInflight)
}

// newGroupCommitN lets inflight groups be in flight (tests use two).
func newGroupCommitN(r raftApplier, maxGroup, inflight int) *groupCommit {
	g := &groupCommit{raft: r, inflight: newKindsInFlight(), queue: make(chan *groupReq, 4096), slots: make(chan struct{}, inflight),
		maxGroup: maxGroup, sleep: time.Sleep}
	for range inflight {
		g.slots <- struct{}{}
	}
	return g
}

// apply hands cmds to Raft in order (in one group or more) and returns
// their futures, which the caller waits on as on raft.Apply's.
func (g *groupCommit) apply(cmds ...[]byte) []raft.ApplyFuture {
	g.started.Do(func() { go g.loop() })
	reqs := make([]*groupReq, len(cmds))
	for i, cmd := range cmds {
		reqs[i] = &groupReq{cmd: cmd, future: make(chan raft.ApplyFuture, 1)}
		g.queue <- reqs[i]
	}
	out := make([]raft.ApplyFuture, len(cmds))
	for i, r := range reqs {
		out[i] = <-r.future
	}
	return out
}

func (g *groupCommit) loop() {
	last := 0 // writes in the last group
	for first := range g.queue {
		<-g.slots // wait for a group to finish; more writes queue meanwhile
		if last >= lingerAfter {
			// Linger in steps, going as soon as as many writes wait as
			// the last group held.
			for waited := time.Duration(0); len(g.queue)+1 < last && waited < groupLinger; waited += lingerStep {
				g.sleep(lingerStep)
			}
		}
		group := drain(first, g.queue, g.maxGroup)
		last = len(group)
		var final raft.ApplyFuture
		for _, r := range group {
			// Counted before Raft has it, so before it can commit.
			r.kind, r.anyKind = g.inflight.add(r.cmd)
			final = g.raft.Apply(r.cmd, applyTimeout)
			r.future <- final
		}
		// Raft applies in log order: the group is through once its
		// last entry is (applied, refused or failed).
		go func() {
			_ = final.Error()
			for _, r := range group {
				g.inflight.done(r.kind, r.anyKind)
			}
			g.slots <- struct{}{}
		}()
	}
}
