package raftfsm

import "sync"

// kindsInFlight counts, per kind, the writes this leader has handed to
// Raft and not yet seen applied. A linearizable read of a kind none of
// them touches need not wait for the FSM to apply everything committed
// (in a burst of pod writes, hundreds of entries and a hundred
// milliseconds): every write to that kind acknowledged anywhere before the
// read went through this leader's Raft log, so is applied here already.
// A command whose kinds are not known cheaply (a transaction, a Namespace
// deletion that takes its contents with it) counts for every kind.
type kindsInFlight struct {
	mu    sync.Mutex
	kinds map[string]int
	all   int // commands that may touch any kind
}

func newKindsInFlight() *kindsInFlight { return &kindsInFlight{kinds: map[string]int{}} }

// add counts cmd in flight and returns what done must be given.
func (k *kindsInFlight) add(cmd []byte) (kind string, any bool) {
	kind, any = commandKind(cmd)
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case any:
		k.all++
	case kind != "":
		k.kinds[kind]++
	}
	return kind, any
}

// done counts a command added as kind/any out again: Raft applied it, or
// it failed.
func (k *kindsInFlight) done(kind string, any bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case any:
		k.all--
	case kind != "":
		if k.kinds[kind]--; k.kinds[kind] == 0 {
			delete(k.kinds, kind)
		}
	}
}

// busy reports whether a write that may touch kind is in flight.
func (k *kindsInFlight) busy(kind string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.all > 0 || k.kinds[kind] > 0
}

// commandKind returns the one kind cmd writes, "" for a command that
// writes none (a no-op), or any when it may write several or it cannot
// tell.
func commandKind(cmd []byte) (kind string, any bool) {
	if len(cmd) == 0 {
		return "", true
	}
	switch MsgType(cmd[0]) {
	case MsgNoop:
		return "", false
	case MsgCreateRaw, MsgUpdateRaw:
		kind, _, err := readKind(cmd[1:])
		return kind, err != nil
	case MsgCreate, MsgUpdate, MsgDelete:
		var msg struct {
			Kind string `json:"kind"`
		}
		if err := decodeMsg(cmd[1:], &msg); err != nil || msg.Kind == "" || msg.Kind == "Namespace" {
			return "", true
		}
		return msg.Kind, false
	}
	return "", true
}
