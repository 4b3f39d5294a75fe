package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Errors of the Raft node.
var (
	// ErrNoLeader: no leader is known; the cluster may be electing one or
	// have lost its quorum.
	ErrNoLeader = errors.New("no raft leader is known (election in progress, or quorum lost)")
	// ErrUnknownOutcome: leadership was lost after the command was sent;
	// it may or may not have been applied.
	ErrUnknownOutcome = errors.New("leadership changed while the write was in flight; it may or may not have been applied")
)

// Timing holds the Raft timeouts. The defaults give failover in about a
// second on a LAN or loopback.
type Timing struct {
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// CommitTimeout bounds how long followers wait to learn that an entry
	// is committed when no other write follows it (watch latency on
	// followers).
	CommitTimeout time.Duration
}

// DefaultTiming returns the timeouts skiff uses unless told otherwise.
func DefaultTiming() Timing {
	return Timing{
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
	}
}

// NodeConfig configures a Raft node.
type NodeConfig struct {
	// ID is this master's Raft server ID; it never changes.
	ID string
	// Dir holds raft.db and snapshots/.
	Dir string
	// Advertise is the Raft address other masters dial.
	Advertise string
	// Stream carries Raft traffic; nil means plain TCP on Advertise.
	// The security layer passes a TLS stream layer here.
	Stream raft.StreamLayer
	// Bootstrap makes this node the first member of a new cluster when it
	// has no Raft state yet.
	Bootstrap bool
	FSM       *FSM
	Peers     Peers
	Timing    Timing
	// SnapshotThreshold is how many new entries trigger a snapshot.
	SnapshotThreshold uint64
	// TrailingLogs is how many entries stay after a snapshot, so that a
	// briefly absent follower catches up from the log.
	TrailingLogs uint64
	// SnapshotInterval is how often Raft checks whether to snapshot;
	// zero means Raft's default (two minutes).
	SnapshotInterval time.Duration
	// LeaderWork runs while this master leads (see OnLeadership); given
	// here, it cannot miss the first leadership of a bootstrapping node.
	LeaderWork []func(ctx context.Context)
	Logger     *slog.Logger
}

// Node is one master's Raft participant: it applies commands (forwarding to
// the leader when it is not the leader), serves linearizable reads, and runs
// the leader's work while it leads.
type Node struct {
	cfg     NodeConfig
	raft    *raft.Raft
	fsm     *FSM
	trans   *raft.NetworkTransport
	bolt    *raftboltdb.BoltStore
	log     *slog.Logger
	peers   Peers
	forward *forwarder
	group   *groupCommit

	mu          sync.Mutex
	leading     bool
	leaderReady chan struct{} // closed once this leader's no-op is applied
	// readyTerm is the term whose no-op this leader applied, 0 when not
	// leading: every entry of earlier terms is applied, and every entry
	// of this one went through its group commit.
	readyTerm  uint64
	leaderStop context.CancelFunc
	leaderWork []func(ctx context.Context)
	leaderDone sync.WaitGroup
	notifyCh   chan bool
	stopCh     chan struct{}
	stopOnce   sync.Once
}

// NewNode opens (or creates) the Raft state under cfg.Dir and starts the
// node. With cfg.Bootstrap and no existing state, it forms a new cluster of
// one.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Timing == (Timing{}) {
		cfg.Timing = DefaultTiming()
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = 8192
	}
	if cfg.TrailingLogs == 0 {
		cfg.TrailingLogs = 10240
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, fsm: cfg.FSM, peers: cfg.Peers, forward: newForwarder(cfg.Peers), log: cfg.Logger.With("component", "raft"),
		leaderReady: make(chan struct{}), notifyCh: make(chan bool, 16), stopCh: make(chan struct{}),
		leaderWork: append([]func(context.Context){}, cfg.LeaderWork...)}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.Timing.HeartbeatTimeout
	rc.ElectionTimeout = cfg.Timing.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.Timing.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.Timing.CommitTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	rc.MaxAppendEntries = 512
	rc.BatchApplyCh = true
	rc.NotifyCh = n.notifyCh
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})

	var err error
	// The freelist is rebuilt at open instead of written with every commit
	// (as etcd does): one page less to write per batch of entries.
	n.bolt, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db"), BoltOptions: &bbolt.Options{
		Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType,
	}})
	if err != nil {
		return nil, fmt.Errorf("opening raft log: %w", err)
	}
	logs, err := raft.NewLogCache(1024, n.bolt)
	if err != nil {
		n.bolt.Close()
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(cfg.Dir, "snapshots"), 2, rc.Logger)
	if err != nil {
		n.bolt.Close()
		return nil, fmt.Errorf("opening snapshot store: %w", err)
	}
	stream := cfg.Stream
	if stream == nil {
		stream, err = newTCPStream(cfg.Advertise)
		if err != nil {
			n.bolt.Close()
			return nil, err
		}
	}
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 8, Timeout: 10 * time.Second, Logger: rc.Logger,
	})
	existing, err := raft.HasExistingState(logs, n.bolt, snaps)
	if err != nil {
		n.close()
		return nil, err
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, logs, n.bolt, snaps, n.trans)
	if err != nil {
		n.close()
		return nil, fmt.Errorf("starting raft: %w", err)
	}
	n.group = newGroupCommit(n.raft, rc.MaxAppendEntries)
	if cfg.Bootstrap && !existing {
		boot := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: raft.ServerAddress(cfg.Advertise), Suffrage: raft.Voter}}}
		if err := n.raft.BootstrapCluster(boot).Error(); err != nil {
			n.Shutdown()
			return nil, fmt.Errorf("bootstrapping cluster: %w", err)
		}
	}
	go n.watchLeadership()
	return n, nil
}

// HasState reports whether dir already holds Raft state (this master has
// been part of a cluster before).
func HasState(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "raft.db"))
	return err == nil
}

// ID returns this master's Raft server ID.
func (n *Node) ID() string { return n.cfg.ID }

// FSM returns the node's state machine.
func (n *Node) FSM() *FSM { return n.fsm }

// IsLeader reports whether this master leads now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the current leader's ID and Raft address, if known.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// OnLeadership registers work that runs while this master leads: fn is
// started (after the leader's no-op is applied, so the FSM is current) each
// time leadership is gained, and its context is cancelled when it is lost.
// Register before leadership can be gained (right after NewNode).
func (n *Node) OnLeadership(fn func(ctx context.Context)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.leaderWork = append(n.leaderWork, fn)
}

func (n *Node) watchLeadership() {
	for {
		select {
		case <-n.stopCh:
			n.stepDown()
			return
		case leader := <-n.notifyCh:
			if leader {
				n.stepUp()
			} else {
				n.stepDown()
			}
		}
	}
}

func (n *Node) stepUp() {
	n.mu.Lock()
	if n.leading {
		n.mu.Unlock()
		return
	}
	n.leading = true
	ctx, cancel := context.WithCancel(context.Background())
	n.leaderStop = cancel
	ready := n.leaderReady
	work := append([]func(context.Context){}, n.leaderWork...)
	n.mu.Unlock()

	n.leaderDone.Add(1)
	go func() {
		defer n.leaderDone.Done()
		// Apply our own no-op: once it is applied, the FSM holds every
		// entry committed by earlier leaders and every later entry reaches
		// the FSM, which is what linearizable reads wait on.
		var term uint64
		for ctx.Err() == nil {
			cmd, _ := Encode(MsgNoop, struct{}{})
			term = n.raft.CurrentTerm()
			err := n.raft.Apply(cmd, 5*time.Second).Error()
			if err == nil {
				break
			}
			n.log.Warn("leader no-op failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			return
		}
		// Only if the no-op surely went into the log in the term it
		// was appended in; else reads take the longer way all term.
		if n.raft.CurrentTerm() == term {
			n.mu.Lock()
			if n.leaderReady == ready {
				n.readyTerm = term
			}
			n.mu.Unlock()
		}
		close(ready)
		n.log.Info("leading", "id", n.cfg.ID)
		var wg sync.WaitGroup
		for _, fn := range work {
			wg.Add(1)
			go func() { defer wg.Done(); fn(ctx) }()
		}
		wg.Wait()
	}()
}

func (n *Node) stepDown() {
	n.mu.Lock()
	if !n.leading {
		n.mu.Unlock()
		return
	}
	n.leading = false
	n.leaderStop()
	n.leaderReady = make(chan struct{})
	n.readyTerm = 0
	n.mu.Unlock()
	n.leaderDone.Wait()
	n.log.Info("no longer leading", "id", n.cfg.ID)
}

// waitLeaderReady waits until this leader's no-op is applied.
func (n *Node) waitLeaderReady(ctx context.Context) error {
	n.mu.Lock()
	ready, leading := n.leaderReady, n.leading
	n.mu.Unlock()
	if !leading {
		return raft.ErrNotLeader
	}
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown stops the node: leader work first, then Raft, then the stores.
func (n *Node) Shutdown() error {
	var err error
	n.stopOnce.Do(func() {
		close(n.stopCh)
		n.stepDown()
		err = n.raft.Shutdown().Error()
		n.close()
	})
	return err
}

func (n *Node) close() {
	if n.trans != nil {
		n.trans.Close()
	}
	if n.bolt != nil {
		n.bolt.Close()
	}
}

// Stats returns Raft's own statistics (state, term, indexes, ...).
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// LastIndex returns the index of the last entry in this master's log.
func (n *Node) LastIndex() uint64 { return n.raft.LastIndex() }

// Configuration returns the current Raft membership.
func (n *Node) Configuration() ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	return f.Configuration().Servers, nil
}

// TakeSnapshot asks Raft for a snapshot (and log compaction) now.
func (n *Node) TakeSnapshot() error { return n.raft.Snapshot().Error() }

// RestoreFrom replaces the cluster's whole state with a saved snapshot. Only
// for disaster recovery into a fresh cluster: call it on the leader of a
// cluster just bootstrapped.
func (n *Node) RestoreFrom(ctx context.Context, path string) error {
	if err := n.waitLeaderReady(ctx); err != nil {
		return err
	}
	// Check the whole file before Raft consumes it: a corrupt backup must
	// not replace anything.
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rev, err := ReadSnapshot(f, n.fsm.reg, newStore(n.fsm.reg))
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	// Index: Raft moves its log past the snapshot's revision, so that
	// resourceVersions keep growing from where the saved cluster left off.
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: st.Size(), Index: rev}
	if err := n.raft.Restore(meta, f, time.Minute); err != nil {
		return fmt.Errorf("restoring snapshot: %w", err)
	}
	// Raft's restore ends with its own no-op, which the FSM never sees.
	cmd, _ := Encode(MsgNoop, struct{}{})
	return n.raft.Apply(cmd, 5*time.Second).Error()
}

// tcpStream is a raft.StreamLayer over plain TCP.
type tcpStream struct {
	net.Listener
	advertise net.Addr
}

func newTCPStream(addr string) (*tcpStream, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("raft listen on %s: %w", addr, err)
	}
	adv, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		l.Close()
		return nil, err
	}
	return &tcpStream{Listener: l, advertise: adv}, nil
}

func (t *tcpStream) Addr() net.Addr { return t.advertise }

func (t *tcpStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(address), timeout)
}
