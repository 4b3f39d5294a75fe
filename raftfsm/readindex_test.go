package raftfsm

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/resources"
)

// A sole voter answers read indexes (and reads of kinds with no write in
// flight) without a heartbeat round; once the
// configuration names a second voter (even before it is committed) it
// asks for one again, and without a quorum the read fails instead of
// answering from a leadership it can no longer prove.
func TestReadIndexOfASoleVoter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n, err := NewNode(NodeConfig{ID: "m1", Dir: t.TempDir(), Advertise: addr, Bootstrap: true,
		FSM: NewFSM(FSMConfig{Registry: resources.Default()}), Timing: Timing{
			HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
			LeaderLeaseTimeout: 100 * time.Millisecond, CommitTimeout: 5 * time.Millisecond},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil && n.waitLeaderReady(ctx) != nil {
		time.Sleep(10 * time.Millisecond) // not elected yet
	}
	if !n.soleVoter() {
		t.Fatal("a one-server cluster's leader is not its sole voter")
	}
	if err := n.ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if !n.leaderReadsNow("ConfigMap") {
		t.Fatal("with no write in flight, the sole voter does not read at once")
	}
	// A second voter that never answers: the change cannot commit, but
	// the latest configuration counts it.
	n.raft.AddVoter("m2", "127.0.0.1:1", 0, 0)
	for n.soleVoter() && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if n.IsLeader() && n.soleVoter() {
		t.Fatal("still the sole voter with two in the configuration")
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := n.LeaderReadIndex(short); err == nil {
		t.Fatal("a read index without a quorum to prove leadership")
	}
	if n.leaderReadsNow("ConfigMap") {
		t.Fatal("reads at once without a quorum to prove leadership")
	}
}
