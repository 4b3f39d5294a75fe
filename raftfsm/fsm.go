package raftfsm

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	"github.com/skiffhq/skiff/apis/resources"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// handler applies one command to the store and returns the records it
// wrote. It must be deterministic: no clocks, no randomness, no I/O.
type handler func(tx *writeTxn, payload []byte) ([]*record, error)

// handlers maps every command type to its one handler.
type handlers map[MsgType]handler

func (h handlers) register(t MsgType, fn handler) {
	if _, dup := h[t]; dup {
		panic(fmt.Sprintf("raftfsm: handler for %s registered twice", t))
	}
	h[t] = fn
}

func newHandlers() handlers {
	h := handlers{}
	h.register(MsgCreate, applyCreate)
	h.register(MsgUpdate, applyUpdate)
	h.register(MsgDelete, applyDelete)
	h.register(MsgTxn, applyTxn)
	h.register(MsgNoop, applyNoop)
	h.register(MsgCreateRaw, applyCreateRaw)
	h.register(MsgUpdateRaw, applyUpdateRaw)
	return h
}

func decodeMsg(payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("malformed command: %v", err))
	}
	return nil
}

// FSM is the Raft state machine: it applies commands to the Store, publishes
// their events, and saves and restores snapshots.
type FSM struct {
	reg      *resources.Registry
	store    atomic.Pointer[Store]
	hub      *Hub
	handlers handlers
	log      *slog.Logger

	// applied is the index of the last log entry the FSM has seen;
	// appliedCh is closed and replaced whenever it moves.
	mu        sync.Mutex
	applied   uint64
	appliedCh chan struct{}

	// results holds what recent entries wrote, by index, so that a
	// follower which forwarded a write can answer its client from its own
	// state instead of the leader sending the objects back.
	resultsMu sync.Mutex
	results   []resultSlot
}

// resultRingSize bounds how many recent results are kept.
const resultRingSize = 1 << 16

type resultSlot struct {
	index uint64
	recs  []*record
}

func (f *FSM) keepResult(index uint64, recs []*record) {
	f.resultsMu.Lock()
	if f.results == nil {
		f.results = make([]resultSlot, resultRingSize)
	}
	f.results[index%resultRingSize] = resultSlot{index: index, recs: recs}
	f.resultsMu.Unlock()
}

// ResultAt returns the records the entry at index wrote, while it is
// among the most recent entries.
func (f *FSM) ResultAt(index uint64) (*Result, bool) {
	f.resultsMu.Lock()
	defer f.resultsMu.Unlock()
	if f.results == nil {
		return nil, false
	}
	slot := f.results[index%resultRingSize]
	if slot.index != index {
		return nil, false
	}
	return &Result{Index: index, Records: slot.recs}, true
}

// DefaultHistory is the watch history's length: a watcher may resume from
// any of the last 25,000 changes (minutes of an ordinary cluster's writes,
// 10-20 s of a 10,000-pod burst); one that was away longer relists. Like
// Kubernetes' watch cache, it trades a rare relist for memory: each event
// keeps an old version of an object alive.
const DefaultHistory = 25_000

// FSMConfig configures an FSM.
type FSMConfig struct {
	Registry *resources.Registry
	// History is how many events the watch history keeps (default
	// DefaultHistory). Every event holds its object's version, so this
	// bounds the memory old versions take.
	History int
	// WatchBuffer is how far a watcher may fall behind before it is cut off.
	WatchBuffer int
	Logger      *slog.Logger
}

// NewFSM returns an FSM with an empty store.
func NewFSM(cfg FSMConfig) *FSM {
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	if cfg.WatchBuffer <= 0 {
		cfg.WatchBuffer = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	f := &FSM{
		reg:       cfg.Registry,
		hub:       NewHub(cfg.History, cfg.WatchBuffer),
		handlers:  newHandlers(),
		log:       cfg.Logger.With("component", "fsm"),
		appliedCh: make(chan struct{}),
	}
	f.store.Store(newStore(cfg.Registry))
	return f
}

// View returns a consistent read-only view of the current state.
func (f *FSM) View() *View { return f.store.Load().View() }

// Hub returns the watch event hub.
func (f *FSM) Hub() *Hub { return f.hub }

// Applied returns the index of the last entry applied and a channel that is
// closed when that changes.
func (f *FSM) Applied() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, f.appliedCh
}

func (f *FSM) setApplied(index uint64) {
	f.mu.Lock()
	if index > f.applied {
		f.applied = index
		close(f.appliedCh)
		f.appliedCh = make(chan struct{})
	}
	f.mu.Unlock()
}

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM. Consecutive single-object
// commands share one memdb transaction (one commit per batch instead of
// per entry); a command that fails does so before it writes anything, so
// it leaves the shared transaction as it was. Transactions of several
// operations, which can fail half-way, get a transaction of their own.
// Events are published once for the whole batch.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	store := f.store.Load()
	entryEvents := make([][]Event, len(logs))
	var group *memdb.Txn
	var grouped []int   // entries applied in group
	var groupRev uint64 // the last of them that wrote (0: none did)
	var last uint64
	commitGroup := func() {
		if group == nil {
			return
		}
		// The revision row is written once per group, not per entry: only
		// the group's last write is ever seen.
		if groupRev != 0 {
			if err := (&writeTxn{txn: group, index: groupRev}).setRevision(); err != nil {
				panic(fmt.Sprintf("raftfsm: writing the revision: %v", err)) // the meta table is in the schema
			}
		}
		group.Commit()
		group, grouped, groupRev = nil, nil, 0
	}
	for i, l := range logs {
		last = l.Index
		if l.Type != raft.LogCommand {
			continue
		}
		if len(l.Data) == 0 || !groupable(MsgType(l.Data[0])) {
			commitGroup()
			res, evs := f.applyOne(store, l)
			out[i], entryEvents[i] = res, evs
			continue
		}
		if group == nil {
			group = store.db.Txn(true)
		}
		res, evs, broke := f.applyInGroup(group, l)
		if broke {
			// Never expected: a command failed after writing. Throw the
			// shared transaction away and apply the group one by one.
			group.Abort()
			group, groupRev = nil, 0
			for _, j := range grouped {
				out[j], entryEvents[j] = f.applyOne(store, logs[j])
			}
			grouped = nil
			res, evs = f.applyOne(store, l)
			out[i], entryEvents[i] = res, evs
			continue
		}
		out[i], entryEvents[i] = res, evs
		grouped = append(grouped, i)
		if res.err == nil {
			groupRev = l.Index
		}
	}
	commitGroup()
	var events []Event
	for i, evs := range entryEvents {
		events = append(events, evs...)
		if res, ok := out[i].(applyResponse); ok && res.err == nil && res.result != nil {
			f.keepResult(logs[i].Index, res.result.Records)
		}
	}
	f.hub.Publish(events)
	f.setApplied(last)
	return out
}

// groupable: commands that write one object (or none) and fail, if at
// all, before writing.
func groupable(t MsgType) bool {
	switch t {
	case MsgCreate, MsgUpdate, MsgCreateRaw, MsgUpdateRaw, MsgNoop:
		return true
	}
	return false
}

func (f *FSM) applyInGroup(group *memdb.Txn, l *raft.Log) (applyResponse, []Event, bool) {
	t := MsgType(l.Data[0])
	h := f.handlers[t]
	tx := &writeTxn{txn: group, reg: f.reg, index: l.Index}
	recs, err := h(tx, l.Data[1:])
	if err != nil {
		return applyResponse{err: err}, nil, tx.mutated
	}
	return applyResponse{result: &Result{Index: l.Index, Records: recs}}, tx.events, false
}

func (f *FSM) applyOne(store *Store, l *raft.Log) (applyResponse, []Event) {
	if len(l.Data) == 0 {
		return applyResponse{err: apierrors.NewBadRequest("empty command")}, nil
	}
	t := MsgType(l.Data[0])
	h, ok := f.handlers[t]
	if !ok {
		// A command this binary does not know: a newer master wrote it.
		// Failing it here (same on every replica) beats guessing.
		return applyResponse{err: apierrors.NewBadRequest(fmt.Sprintf("unknown command type %d", t))}, nil
	}
	tx := &writeTxn{txn: store.db.Txn(true), reg: f.reg, index: l.Index}
	recs, err := h(tx, l.Data[1:])
	if err == nil {
		err = tx.setRevision()
	}
	if err != nil {
		tx.txn.Abort()
		return applyResponse{err: err}, nil
	}
	tx.txn.Commit()
	return applyResponse{result: &Result{Index: l.Index, Records: recs}}, tx.events
}

// Snapshot implements raft.FSM. It only takes a memdb read transaction;
// writing happens in Persist, off the FSM goroutine.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{view: f.View()}, nil
}

// Restore implements raft.FSM: it builds a new store from the snapshot and
// swaps it in; watchers must relist.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	store := newStore(f.reg)
	rev, err := ReadSnapshot(rc, f.reg, store)
	if err != nil {
		return err
	}
	f.store.Store(store)
	f.hub.Reset(rev)
	f.setApplied(rev)
	f.log.Info("state restored from snapshot", "revision", rev)
	return nil
}

type fsmSnapshot struct{ view *View }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := WriteSnapshot(sink, s.view); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
