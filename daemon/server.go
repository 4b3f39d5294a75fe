package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// scheme of the API until the cluster has its PKI.
const scheme = "http"

// systemNamespaces exist in every cluster.
var systemNamespaces = []string{"default", "skiff-system"}

// masterProc is one running `skiff server`.
type masterProc struct {
	cfg       ServerConfig
	log       *slog.Logger
	id        string
	reg       *resources.Registry
	node      *raftfsm.Node
	nodeSet   chan struct{}
	store     *raftfsm.APIStore
	initToken *joinToken // set when this run created the cluster
	restored  atomic.Bool
	fatal     chan error
}

// RunServer runs a master until ctx ends or it fails.
func RunServer(ctx context.Context, cfg ServerConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if err := cfg.check(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	raftDir := filepath.Join(cfg.DataDir, "raft")
	hasState := raftfsm.HasState(raftDir)
	switch {
	case !hasState && !cfg.Init && cfg.Join == "" && cfg.Restore == "":
		return fmt.Errorf("%s holds no cluster state: pass --init to start a new cluster, --join HOST:PORT --token T to join one, or --restore FILE", cfg.DataDir)
	case hasState && cfg.Restore != "":
		return fmt.Errorf("--restore needs an empty --data-dir; %s already holds a cluster's state", cfg.DataDir)
	}
	if cfg.Restore != "" {
		if _, err := os.Stat(cfg.Restore); err != nil {
			return fmt.Errorf("--restore: %w", err)
		}
	}
	id, err := serverID(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("server id: %w", err)
	}
	m := &masterProc{cfg: cfg, log: cfg.Logger, id: id, reg: resources.Default(), nodeSet: make(chan struct{}), fatal: make(chan error, 1)}
	bootstrap := !hasState && (cfg.Init || cfg.Restore != "")
	if bootstrap {
		tok, err := newJoinToken()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(cfg.DataDir, "token"), []byte(tok.String()+"\n"), 0o600); err != nil {
			return err
		}
		m.initToken = &tok
	}

	// Take the API port first: a clash fails before any state is made.
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("API listen: %w", err)
	}
	defer ln.Close()

	fsm := raftfsm.NewFSM(raftfsm.FSMConfig{Registry: m.reg, Logger: cfg.Logger})
	peers := &raftfsm.HTTPPeers{Client: &http.Client{Timeout: 15 * time.Second}, Scheme: scheme, Registry: m.reg}
	node, err := raftfsm.NewNode(raftfsm.NodeConfig{
		ID: id, Dir: raftDir, Advertise: cfg.RaftAddr, Bootstrap: bootstrap,
		FSM: fsm, Peers: peers, Timing: cfg.Timing, Logger: cfg.Logger,
		LeaderWork: []func(context.Context){m.lead},
	})
	if err != nil {
		return err
	}
	m.node = node
	m.store = raftfsm.NewAPIStore(node)
	close(m.nodeSet)
	defer node.Shutdown()

	api := server.New(server.Config{
		Store: m.store, Registry: m.reg,
		Cluster: &clusterOps{node: node, scheme: scheme, now: time.Now},
		Ready:   node.ReadIndex,
		Version: skiffv1.VersionInfo{Version: cfg.Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH},
		Logger:  cfg.Logger,
	})
	mux := http.NewServeMux()
	mux.Handle("/internal/", raftfsm.PeerHandler(node))
	mux.Handle("/", api)
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if httpSrv.Shutdown(sctx) != nil {
			httpSrv.Close()
		}
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !hasState && cfg.Join != "" {
		if err := m.join(ctx); err != nil {
			return err
		}
	}
	admin := &adminConfig{path: filepath.Join(cfg.DataDir, "admin.conf"), self: scheme + "://" + cfg.APIAddr, scheme: scheme, fsm: fsm, log: cfg.Logger}
	if err := admin.write(); err != nil {
		return fmt.Errorf("writing admin.conf: %w", err)
	}
	go admin.run(ctx)
	m.greet(admin.path)

	select {
	case <-ctx.Done():
		m.log.Info("shutting down")
		return nil
	case err := <-serveErr:
		return fmt.Errorf("API server: %w", err)
	case err := <-m.fatal:
		return err
	}
}

func (m *masterProc) greet(adminPath string) {
	out := m.cfg.Out
	fmt.Fprintf(out, "skiff server %s: API at %s://%s, raft at %s, data in %s\n", m.id, scheme, m.cfg.APIAddr, m.cfg.RaftAddr, m.cfg.DataDir)
	fmt.Fprintf(out, "admin config: %s   (export %s=%s)\n", adminPath, client.ConfigEnv, adminPath)
	if tok, err := os.ReadFile(filepath.Join(m.cfg.DataDir, "token")); err == nil {
		fmt.Fprintf(out, "server join token: %s   (kept in %s)\n", strings.TrimSpace(string(tok)), filepath.Join(m.cfg.DataDir, "token"))
	}
	if m.cfg.NoAgent {
		fmt.Fprintln(out, "no local agent (--no-agent): this master stores and serves the cluster state but runs no pods")
	} else {
		fmt.Fprintln(out, "this build has no node agent yet: running as with --no-agent")
	}
}

// join asks the cluster to admit this master, retrying while the cluster
// cannot be reached; a refused token ends it at once.
func (m *masterProc) join(ctx context.Context) error {
	target := m.cfg.Join
	if !strings.Contains(target, "://") {
		target = scheme + "://" + target
	}
	c, err := client.New(&client.Config{Servers: []string{target}}, client.Options{Timeout: 60 * time.Second})
	if err != nil {
		return err
	}
	req := &skiffv1.JoinRequest{Token: m.cfg.Token, ID: m.id, RaftAddress: m.cfg.RaftAddr, APIAddress: m.cfg.APIAddr}
	for attempt := 1; ; attempt++ {
		resp, err := c.Join(ctx, req)
		if err == nil {
			fmt.Fprintf(m.cfg.Out, "joined the cluster through %s (leader %s)\n", m.cfg.Join, resp.Leader)
			break
		}
		var se apierrors.APIStatus
		if errors.As(err, &se) && se.Status().Code < 500 {
			return fmt.Errorf("joining through %s: %w", m.cfg.Join, err)
		}
		fmt.Fprintf(m.cfg.Out, "joining through %s: attempt %d: %v; retrying\n", m.cfg.Join, attempt, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(attempt)*500*time.Millisecond, 5*time.Second)):
		}
	}
	if err := os.WriteFile(filepath.Join(m.cfg.DataDir, "token"), []byte(strings.TrimSpace(m.cfg.Token)+"\n"), 0o600); err != nil {
		return err
	}
	// Wait to catch up, so that this master serves current state.
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := m.node.ReadIndex(cctx); err != nil {
		return fmt.Errorf("catching up with the leader: %w", err)
	}
	return nil
}

// lead runs each time this master becomes leader: it finishes a pending
// restore, records this master's addresses, and makes sure the system
// namespaces and the first join token exist. Later issues add the
// scheduler and the controllers here.
func (m *masterProc) lead(ctx context.Context) {
	<-m.nodeSet
	if m.cfg.Restore != "" && !m.restored.Load() {
		if err := m.node.RestoreFrom(ctx, m.cfg.Restore); err != nil {
			m.fatal <- fmt.Errorf("restoring %s: %w", m.cfg.Restore, err)
			return
		}
		m.restored.Store(true)
		if err := m.node.PruneMembers(ctx); err != nil {
			m.log.Warn("removing the old cluster's masters", "err", err)
		}
		fmt.Fprintf(m.cfg.Out, "restored the cluster state from %s\n", m.cfg.Restore)
	}
	retry(ctx, m.log, "recording this master", func() error {
		return m.node.PutMember(ctx, m.id, m.cfg.RaftAddr, m.cfg.APIAddr)
	})
	for _, ns := range systemNamespaces {
		retry(ctx, m.log, "creating namespace "+ns, func() error { return m.ensureNamespace(ctx, ns) })
	}
	if m.initToken != nil {
		retry(ctx, m.log, "storing the join token", func() error { return m.ensureToken(ctx, *m.initToken) })
	}
	<-ctx.Done()
}

func retry(ctx context.Context, log *slog.Logger, what string, fn func() error) {
	for ctx.Err() == nil {
		err := fn()
		if err == nil {
			return
		}
		log.Warn(what, "err", err)
		sleep(ctx, 1)
	}
}

func sleep(ctx context.Context, seconds int) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Duration(seconds) * time.Second):
	}
}

func (m *masterProc) ensureNamespace(ctx context.Context, name string) error {
	res, _ := m.reg.ByKind("Namespace")
	if m.node.FSM().View().Get("Namespace", "", name) != nil {
		return nil
	}
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(newUID()), CreationTimestamp: metav1.Now(), Generation: 1},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	_, err := m.store.Create(ctx, res, ns)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// ensureToken stores the hash of the token created with the cluster, once.
func (m *masterProc) ensureToken(ctx context.Context, tok joinToken) error {
	res, _ := m.reg.ByKind("JoinToken")
	if m.node.FSM().View().Get("JoinToken", "", tok.ID()) != nil {
		m.initToken = nil
		return nil
	}
	obj := &skiffv1.JoinToken{
		TypeMeta:   metav1.TypeMeta{APIVersion: skiffv1.APIVersion, Kind: "JoinToken"},
		ObjectMeta: metav1.ObjectMeta{Name: tok.ID(), UID: types.UID(newUID()), CreationTimestamp: metav1.Now(), Generation: 1},
		Spec:       skiffv1.JoinTokenSpec{Role: skiffv1.RoleServer, SecretHash: tok.hash(), Description: "created with the cluster"},
	}
	_, err := m.store.Create(ctx, res, obj)
	if err == nil || apierrors.IsAlreadyExists(err) {
		m.initToken = nil
		return nil
	}
	return err
}
