// Package raftfsm is skiff's replicated resource store, in place of etcd.
//
// Every master runs a hashicorp/raft node whose FSM keeps all resources in
// go-memdb (one table per kind). Writes are typed commands (create, update
// with a resourceVersion precondition, delete, a small transaction), each
// with one handler; the FSM never reads a clock or a random source, so
// replaying the same log gives the same state. A resource's resourceVersion
// is the Raft index of the entry that last changed it.
//
// Every applied change becomes a watch event in a bounded history that
// watchers resume from; a watcher too slow to keep up is cut off, Apply
// never waits for one.
//
// Files: store.go (tables, reads), indexes.go, commands.go (message types),
// cmd_*.go (one handler each), fsm.go (apply, batch, snapshot, restore),
// snapshot.go (format), watch.go (event history), node.go (raft wiring),
// readindex.go (linearizable reads), peer.go (forwarding between masters).
package raftfsm
