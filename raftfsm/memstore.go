package raftfsm

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
)

// NewMemStore returns a storage.Store backed by an FSM without Raft: each
// write is applied at once as the next log index. It behaves like a one-master
// cluster and is meant for unit tests of the API, the client and the
// controllers; nothing is persisted.
func NewMemStore(cfg FSMConfig) *APIStore {
	return &APIStore{node: &localBackend{fsm: NewFSM(cfg)}}
}

type localBackend struct {
	fsm   *FSM
	mu    sync.Mutex
	index uint64
}

func (b *localBackend) FSM() *FSM { return b.fsm }

func (b *localBackend) ReadIndex(context.Context) error { return nil }

func (b *localBackend) ReadIndexFor(context.Context, string) error { return nil }

func (b *localBackend) Apply(_ context.Context, cmd []byte) (*Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.index++
	resp := b.fsm.Apply(&raft.Log{Index: b.index, Term: 1, Type: raft.LogCommand, Data: cmd}).(applyResponse)
	return resp.result, resp.err
}
