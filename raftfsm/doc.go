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
// cmd_*.go (one handler each), txn.go (the writes handlers make), fsm.go
// (apply, batch, snapshot, restore), snapshot.go (format), watch.go (event
// history), node.go (raft wiring), apply.go (writes and linearizable reads),
// forward.go and peers.go / peerhttp.go (forwarding between masters),
// members.go, apistore.go (the API's storage.Store), memstore.go (the same
// without Raft, for tests), tlsstream.go (the TLS Raft transport).
package raftfsm
