package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiffhq/skiff/apis/auth"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/metricsstore"
	"github.com/skiffhq/skiff/apis/pki"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/secretbox"
	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/raftfsm"
	"github.com/skiffhq/skiff/reconcile/nodeipam"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// systemNamespaces exist in every cluster.
var systemNamespaces = []string{"default", "skiff-system"}

// Token files in a master's data dir.
const (
	serverTokenFile = "token"
	workerTokenFile = "worker-token"
)

// masterProc is one running `skiff server`.
type masterProc struct {
	cfg        ServerConfig
	log        *slog.Logger
	id         string
	scheme     string
	reg        *resources.Registry
	pki        *masterPKI
	node       *raftfsm.Node
	nodeSet    chan struct{}
	raw        *raftfsm.APIStore
	store      storage.Store
	ops        *clusterOps
	newTokens  bool // this run created the cluster: make its first tokens
	tokensMade chan struct{}
	tokensOnce sync.Once
	restored   atomic.Bool
	// ready is set once this master has written its admin.conf and, for a
	// new cluster, its tokens: /readyz waits for it, so that scripts can
	// read those files once the master is ready.
	ready atomic.Bool
	fatal chan error
	// metrics is the usage the leader scraped from the nodes.
	metrics        *metricsstore.Store
	peerHTTP       *http.Client
	agentTransport http.RoundTripper
}

// RunServer runs a master until ctx ends or it fails.
func RunServer(ctx context.Context, cfg ServerConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.CertLifetime == 0 {
		cfg.CertLifetime = pki.DefaultCertLifetime
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
	m := &masterProc{cfg: cfg, log: cfg.Logger, id: id, scheme: "https", reg: resources.Default(),
		nodeSet: make(chan struct{}), tokensMade: make(chan struct{}), fatal: make(chan error, 1), metrics: metricsstore.New()}
	if cfg.Insecure {
		m.scheme = "http"
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Credentials first: nothing listens before this master can prove
	// who it is.
	hosts := hostsOf(cfg.APIAddr, cfg.RaftAddr)
	bootstrap := !hasState && (cfg.Init || cfg.Restore != "")
	joining := !hasState && cfg.Join != ""
	switch {
	case bootstrap:
		m.pki, err = initPKI(cfg.DataDir, id, hosts, cfg.CertLifetime)
		m.newTokens = true
		if err == nil && cfg.RestoreKeyring != "" {
			var raw []byte
			if raw, err = os.ReadFile(cfg.RestoreKeyring); err == nil {
				err = m.pki.keys.Merge(raw)
			}
			if err != nil {
				err = fmt.Errorf("--restore-keyring: %w", err)
			}
		}
	case joining:
		m.pki, err = m.joinCredentials(ctx, hosts)
	default:
		m.pki, err = loadPKI(cfg.DataDir, hosts, cfg.CertLifetime)
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%w: %v", errNoPKI, err)
		}
	}
	if err != nil {
		return err
	}
	if !m.newTokens {
		close(m.tokensMade)
	}

	// Take the API port before Raft: a clash fails before any state is made.
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("API listen: %w", err)
	}
	defer ln.Close()
	var stream *raftfsm.TLSStream
	peerServerTLS, peerClientTLS := m.pki.server.PeerTLS(pki.RoleServer)
	// Followers forward every write to the leader: keep enough idle
	// connections that busy clients never wait for a new one.
	peerTransport := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second}
	peerHTTP := &http.Client{Timeout: 15 * time.Second, Transport: peerTransport}
	m.peerHTTP = peerHTTP
	if !cfg.Insecure {
		ln = tls.NewListener(ln, m.pki.server.ServerTLS(false))
		stream, err = raftfsm.NewTLSStream(cfg.RaftAddr, peerServerTLS, peerClientTLS)
		if err != nil {
			return err
		}
		peerTransport.TLSClientConfig = m.pki.server.ClientTLS()
	}

	fsm := raftfsm.NewFSM(raftfsm.FSMConfig{Registry: m.reg, Logger: cfg.Logger})
	nodeCfg := raftfsm.NodeConfig{
		ID: id, Dir: raftDir, Advertise: cfg.RaftAddr, Bootstrap: bootstrap,
		FSM: fsm, Peers: &raftfsm.HTTPPeers{Client: peerHTTP, Scheme: m.scheme},
		Timing: cfg.Timing, Logger: cfg.Logger, LeaderWork: []func(context.Context){m.lead},
	}
	if stream != nil {
		nodeCfg.Stream = stream
	}
	if cfg.SnapshotThreshold > 0 {
		nodeCfg.SnapshotThreshold, nodeCfg.TrailingLogs, nodeCfg.SnapshotInterval = cfg.SnapshotThreshold, cfg.SnapshotThreshold, time.Second
	}
	node, err := raftfsm.NewNode(nodeCfg)
	if err != nil {
		return err
	}
	m.node = node
	m.raw = raftfsm.NewAPIStore(node)
	sealed := secretbox.Wrap(m.raw, m.pki.keys)
	m.store = sealed
	var opsTLS *tls.Config
	if !cfg.Insecure {
		opsTLS = m.pki.server.ClientTLS()
	}
	m.ops = &clusterOps{node: node, pki: m.pki, store: m.store, reg: m.reg, scheme: m.scheme, peerTLS: opsTLS, now: time.Now}
	sealed.Refresh = m.ops.fetchKeyring
	close(m.nodeSet)
	defer node.Shutdown()

	// Logs, exec, images and usage scrapes reach the agents with this
	// master's certificate; the agents' certificates are checked against
	// the CA.
	m.agentTransport = &http.Transport{TLSClientConfig: m.pki.server.ClientTLS(), IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 2}
	apiCfg := server.Config{
		Store: m.store, Registry: m.reg, Cluster: m.ops,
		Ready: func(ctx context.Context) error {
			if !m.ready.Load() {
				return errors.New("starting")
			}
			return node.ReadIndex(ctx)
		},
		Version:        skiffv1.VersionInfo{Version: cfg.Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH},
		Logger:         cfg.Logger,
		AgentTransport: m.agentTransport,
		Metrics:        metricsReader{m},
		UploadDir:      cfg.DataDir,
		Services:       cfg.services,
	}
	authn := &auth.Authenticator{Users: m.lookupUser}
	if !cfg.Insecure {
		apiCfg.Authenticate = authn.Authenticate
		apiCfg.Authorizer = &auth.Authorizer{Graph: fsmGraph{fsm: fsm}}
		audit, closeAudit := newAuditLog(filepath.Join(cfg.DataDir, "audit.log"))
		defer closeAudit()
		apiCfg.Audit = audit
	}
	api := server.New(apiCfg)
	internal := http.NewServeMux()
	internal.Handle(keyringPath, keyringHandler(m.pki.keys))
	internal.Handle(caSyncPath, m.caHandler())
	internal.Handle(metricsPath, m.metricsHandler())
	internal.Handle("/", raftfsm.PeerHandler(node))
	mux := http.NewServeMux()
	if cfg.Insecure {
		mux.Handle("/internal/", internal)
	} else {
		mux.Handle("/internal/", requireRole(authn, auth.RoleServer, internal))
	}
	mux.Handle("/", api)
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietTLSLog()}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if httpSrv.Shutdown(sctx) != nil {
			httpSrv.Close()
		}
	}()
	if !cfg.Insecure {
		go m.pki.renewLoop(ctx, id, m.log)
		go m.caSyncLoop(ctx)
	}

	if joining {
		if err := m.becomeVoter(ctx); err != nil {
			return err
		}
	}
	// The first tokens are made by the first leader; wait for them so that
	// they can be printed.
	select {
	case <-m.tokensMade:
	case err := <-m.fatal:
		return err
	case <-ctx.Done():
		return nil
	}
	admin := &adminConfig{path: filepath.Join(cfg.DataDir, "admin.conf"), self: m.scheme + "://" + cfg.APIAddr,
		scheme: m.scheme, fsm: fsm, pki: m.pki, insecure: cfg.Insecure, log: cfg.Logger}
	if err := admin.write(); err != nil {
		return fmt.Errorf("writing admin.conf: %w", err)
	}
	go admin.run(ctx)
	m.greet(admin.path)
	m.ready.Store(true)
	if !cfg.NoAgent {
		go m.runAgent(ctx)
	}

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

// quietTLSLog drops the http server's per-connection TLS handshake noise
// (a client with the wrong CA is refused; that is not this master's error).
func quietTLSLog() *log.Logger { return log.New(io.Discard, "", 0) }

// requireRole admits only callers of role to h.
func requireRole(authn *auth.Authenticator, role string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := authn.Authenticate(r)
		if err != nil || u.Role != role {
			http.Error(w, "only masters may call this endpoint", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// lookupUser reads a User object from local state.
func (m *masterProc) lookupUser(_ context.Context, name string) (string, string, bool, error) {
	o := m.node.FSM().View().Get("User", "", name)
	if o == nil {
		return "", "", false, nil
	}
	u := o.(*skiffv1.User)
	return u.Spec.Role, u.Spec.Namespace, true, nil
}

func (m *masterProc) greet(adminPath string) {
	out := m.cfg.Out
	fmt.Fprintf(out, "skiff server %s: API at %s://%s, raft at %s, data in %s\n", m.id, m.scheme, m.cfg.APIAddr, m.cfg.RaftAddr, m.cfg.DataDir)
	if m.cfg.Insecure {
		fmt.Fprintln(out, "INSECURE: plain HTTP, plain Raft, no authentication (--insecure-bench-only)")
	}
	fmt.Fprintf(out, "admin config: %s   (export %s=%s)\n", adminPath, client.ConfigEnv, adminPath)
	for _, f := range []struct{ file, what string }{{serverTokenFile, "server join token"}, {workerTokenFile, "worker join token"}} {
		path := filepath.Join(m.cfg.DataDir, f.file)
		if raw, err := os.ReadFile(path); err == nil {
			tok, perr := pki.ParseToken(string(raw))
			if perr == nil && !tok.PinsCA(m.pki.CA().Cert) {
				fmt.Fprintf(out, "%s in %s was made for a previous CA (the CA was rotated): create a new one with `skiff token create`\n", f.what, path)
				continue
			}
			fmt.Fprintf(out, "%s: %s   (kept in %s)\n", f.what, strings.TrimSpace(string(raw)), path)
		}
	}
	if m.cfg.NoAgent {
		fmt.Fprintln(out, "no local agent (--no-agent): this master stores and serves the cluster state but runs no pods")
	}
}

// joinCredentials is the first step of joining: check the cluster's CA
// against the token, then trade the token and a CSR for this master's
// certificate, the CA and the secrets keyring. It retries while the
// cluster cannot be reached; a refusal ends it at once.
func (m *masterProc) joinCredentials(ctx context.Context, hosts []string) (*masterPKI, error) {
	tok, err := pki.ParseToken(m.cfg.Token)
	if err != nil {
		return nil, fmt.Errorf("--token: %w", err)
	}
	target := strings.TrimPrefix(strings.TrimPrefix(m.cfg.Join, "https://"), "http://")
	csr, keyPEM, err := pki.NewCSR(pki.ServerName(m.id))
	if err != nil {
		return nil, err
	}
	req := &skiffv1.JoinRequest{Token: tok.String(), Role: skiffv1.RoleServer, Name: m.id, CSR: string(csr),
		RaftAddress: m.cfg.RaftAddr, APIAddress: m.cfg.APIAddr}
	var resp *skiffv1.JoinResponse
	err = retryJoin(ctx, m.cfg.Out, target, func() error {
		var c *client.Client
		if m.cfg.Insecure {
			var err error
			c, err = client.New(&client.Config{Servers: []string{"http://" + target}}, client.Options{Timeout: 60 * time.Second})
			if err != nil {
				return err
			}
		} else {
			ca, err := fetchPinnedCA(ctx, target, tok)
			if err != nil {
				return err
			}
			if c, err = pinnedClient(target, ca, nil, nil); err != nil {
				return err
			}
		}
		var err error
		resp, err = c.Join(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	mp, err := savePKI(m.cfg.DataDir, []byte(resp.CABundle), []byte(resp.CAKey), []byte(resp.CAChain), []byte(resp.Certificate), keyPEM, resp.Keyring, hosts, m.cfg.CertLifetime)
	if err != nil {
		return nil, fmt.Errorf("storing the credentials received: %w", err)
	}
	if err := os.WriteFile(filepath.Join(m.cfg.DataDir, serverTokenFile), []byte(tok.String()+"\n"), 0o600); err != nil {
		return nil, err
	}
	return mp, nil
}

// retryJoin calls fn until it succeeds, showing progress; permanent
// refusals end it.
func retryJoin(ctx context.Context, out io.Writer, target string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		if isPermanent(err) {
			return fmt.Errorf("joining through %s: %w", target, err)
		}
		fmt.Fprintf(out, "joining through %s: attempt %d: %v; retrying\n", target, attempt, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(attempt)*500*time.Millisecond, 5*time.Second)):
		}
	}
}

// becomeVoter is the second step of joining: with its certificate and its
// Raft transport up, the master asks to be added as a voter, then catches
// up.
func (m *masterProc) becomeVoter(ctx context.Context) error {
	target := strings.TrimPrefix(strings.TrimPrefix(m.cfg.Join, "https://"), "http://")
	var c *client.Client
	var err error
	if m.cfg.Insecure {
		c, err = client.New(&client.Config{Servers: []string{"http://" + target}}, client.Options{Timeout: 60 * time.Second})
	} else {
		certPEM, keyPEM, lerr := pki.LoadKeyPairFiles(m.cfg.DataDir, serverCertName)
		if lerr != nil {
			return lerr
		}
		c, err = pinnedClient(target, m.pki.CA().Cert, certPEM, keyPEM)
	}
	if err != nil {
		return err
	}
	req := &skiffv1.AddMasterRequest{ID: m.id, RaftAddress: m.cfg.RaftAddr, APIAddress: m.cfg.APIAddr}
	var resp *skiffv1.AddMasterResponse
	if err := retryJoin(ctx, m.cfg.Out, target, func() error {
		var err error
		resp, err = c.AddMaster(ctx, req)
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(m.cfg.Out, "joined the cluster through %s (leader %s)\n", target, resp.Leader)
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := m.node.ReadIndex(cctx); err != nil {
		return fmt.Errorf("catching up with the leader: %w", err)
	}
	return nil
}

// lead runs each time this master becomes leader: it finishes a pending
// restore, records this master's addresses, and makes sure the system
// namespaces and, for a new cluster, the first join tokens exist. Later
// issues add the scheduler and the controllers here.
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
	retry(ctx, m.log, "creating the local-path storage class", func() error { return m.ensureLocalPathClass(ctx) })
	if alloc, err := nodeipam.New(m.cfg.ClusterCIDR, fsmNodes{m}, m.log); err != nil {
		m.fatal <- err
		return
	} else {
		go alloc.Run(ctx, 500*time.Millisecond)
	}
	go m.runScheduler(ctx)
	go m.runControllers(ctx)
	go m.scrapeMetrics(ctx)
	go m.keepAPIService(ctx)
	if m.newTokens {
		m.tokensOnce.Do(func() {
			retry(ctx, m.log, "creating the first join tokens", func() error { return m.firstTokens(ctx) })
			close(m.tokensMade)
		})
	}
	<-ctx.Done()
}

// firstTokens makes the server and worker tokens printed at init. They
// never expire (revoke them with `skiff token revoke`).
func (m *masterProc) firstTokens(ctx context.Context) error {
	for _, t := range []struct{ role, file string }{{skiffv1.RoleServer, serverTokenFile}, {skiffv1.RoleWorker, workerTokenFile}} {
		path := filepath.Join(m.cfg.DataDir, t.file)
		if _, err := os.Stat(path); err == nil {
			continue
		}
		resp, err := m.ops.makeToken(ctx, t.role, 0, "created with the cluster")
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(resp.Token+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
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
	_, err := m.raw.Create(ctx, res, ns)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
