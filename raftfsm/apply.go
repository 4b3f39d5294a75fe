package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// applyTimeout bounds how long a command may wait to enter the leader's log.
const applyTimeout = 10 * time.Second

// Apply runs a command through Raft and returns its result. On a follower
// the command is forwarded to the leader; either way, when Apply returns
// without error this master's own FSM already reflects the write, so a read
// here right after sees it.
func (n *Node) Apply(ctx context.Context, cmd []byte) (*Result, error) {
	backoff := 20 * time.Millisecond
	for {
		res, err, retry := n.applyOnce(ctx, cmd)
		if !retry {
			return res, err
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return nil, err
		case <-time.After(backoff):
		}
		if backoff < 500*time.Millisecond {
			backoff *= 2
		}
	}
}

// applyOnce tries once. retry says the command surely was not applied and
// may be sent again (no leader, not leader any more, leader unreachable).
func (n *Node) applyOnce(ctx context.Context, cmd []byte) (res *Result, err error, retry bool) {
	if n.raft.State() == raft.Leader {
		res, err := n.leaderOutcome(n.group.apply(cmd)[0])
		retry := errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrEnqueueTimeout)
		return res, err, retry
	}
	addr, err := n.LeaderAPI()
	if err != nil {
		return nil, err, true
	}
	index, err := n.forward.apply(ctx, addr, cmd)
	if err != nil {
		var unreachable *UnreachableError
		if errors.As(err, &unreachable) || errors.Is(err, raft.ErrNotLeader) {
			return nil, err, true
		}
		return nil, err, false
	}
	// The leader applied it: a create's or an update's record follows from
	// the command, so answer now rather than wait for this master to apply
	// it too (a follower learns of a commit only with the leader's next
	// message, and applies it after storing that). Reads here still see the
	// write: a linearizable read waits for this master to apply up to the
	// leader's commit index, and a watch from the returned resourceVersion
	// starts after it.
	if res, ok := n.fsm.writtenResult(cmd, index); ok {
		return res, nil, false
	}
	// Others (deletions, transactions) are answered with what this master
	// applied: read-your-writes here.
	if werr := n.WaitApplied(ctx, index); werr != nil {
		return nil, werr, false
	}
	res, ok := n.fsm.ResultAt(index)
	if !ok {
		return nil, fmt.Errorf("the write was applied at index %d, but its result is no longer held here; read the object again", index), false
	}
	return res, nil, false
}

// leaderOutcome waits for a command this leader applies. A lost
// leadership leaves the outcome unknown.
func (n *Node) leaderOutcome(f raft.ApplyFuture) (*Result, error) {
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrLeadershipLost) {
			return nil, ErrUnknownOutcome
		}
		return nil, err
	}
	resp, ok := f.Response().(applyResponse)
	if !ok {
		return nil, errors.New("raftfsm: command produced no response")
	}
	return resp.result, resp.err
}

// LeaderAPI returns the API address of the current leader.
func (n *Node) LeaderAPI() (string, error) {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return "", ErrNoLeader
	}
	if m := n.fsm.View().Member(string(id)); m != nil {
		return m.Spec.APIAddress, nil
	}
	return "", ErrNoLeader
}

// WaitApplied waits until this master's FSM has applied index.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	for {
		applied, ch := n.fsm.Applied()
		if applied >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ReadIndex makes the next local read linearizable: it returns once this
// master's FSM holds every write committed before the call. The leader
// confirms it still leads (a heartbeat round) and reads its commit index;
// a follower asks the leader for that index and waits to apply it.
func (n *Node) ReadIndex(ctx context.Context) error {
	backoff := 10 * time.Millisecond
	for {
		index, err := n.readIndex(ctx)
		if err == nil {
			return n.WaitApplied(ctx, index)
		}
		var unreachable *UnreachableError
		if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, ErrNoLeader) && !errors.As(err, &unreachable) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		if backoff < 500*time.Millisecond {
			backoff *= 2
		}
	}
}

// ReadIndexFor is ReadIndex for a read of one kind. On the leader it
// returns without waiting for the FSM when no write of that kind is on its
// way through Raft (see kindsInFlight); else, and on a follower, it is
// ReadIndex.
func (n *Node) ReadIndexFor(ctx context.Context, kind string) error {
	if n.leaderReadsNow(kind) {
		return nil
	}
	return n.ReadIndex(ctx)
}

// leaderReadsNow reports whether this master may read kind from its own
// state as it is: it leads, in the term whose no-op it applied (so it has
// led all along since), no write of kind is in flight, and it still leads
// now (a heartbeat round, or being the sole voter).
func (n *Node) leaderReadsNow(kind string) bool {
	n.mu.Lock()
	term := n.readyTerm
	n.mu.Unlock()
	if term == 0 || n.raft.State() != raft.Leader || n.raft.CurrentTerm() != term || n.group.inflight.busy(kind) {
		return false
	}
	if n.soleVoter() {
		return true
	}
	return n.raft.VerifyLeader().Error() == nil && n.raft.CurrentTerm() == term
}

func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		addr, err := n.LeaderAPI()
		if err != nil {
			return 0, err
		}
		return n.peers.ReadIndex(ctx, addr)
	}
	return n.LeaderReadIndex(ctx)
}

// LeaderReadIndex is the leader's half of ReadIndex: the commit index,
// valid once a heartbeat round confirms this master still leads.
func (n *Node) LeaderReadIndex(ctx context.Context) (uint64, error) {
	if err := n.waitLeaderReady(ctx); err != nil {
		return 0, err
	}
	index := n.raft.CommitIndex()
	if n.soleVoter() {
		// No other server can win an election without this one's vote,
		// so no other can have committed anything: the heartbeat round
		// would prove nothing, yet it waits its turn in Raft's leader
		// loop behind every write being stored (up to 100 ms in a burst).
		return index, nil
	}
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return 0, err
	}
	return index, nil
}

// soleVoter reports whether this server leads and is the only voter of the
// latest configuration (the one Raft counts votes with, even uncommitted).
func (n *Node) soleVoter() bool {
	if n.raft.State() != raft.Leader {
		return false
	}
	voters := 0
	self := false
	for _, srv := range n.raft.GetConfiguration().Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			voters++
			self = self || srv.ID == raft.ServerID(n.cfg.ID)
		}
	}
	return voters == 1 && self
}
