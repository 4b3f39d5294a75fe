package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/skiffhq/skiff/agent"
	"github.com/skiffhq/skiff/agent/endpoint"
	"github.com/skiffhq/skiff/agent/podnet"
	"github.com/skiffhq/skiff/agent/proxy"
	"github.com/skiffhq/skiff/agent/runtime"
	ctrd "github.com/skiffhq/skiff/agent/runtime/containerd"
	"github.com/skiffhq/skiff/agent/volumes"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/pki"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/apis/skiffv1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// AgentConfig configures `skiff agent` (and the agent a server runs).
type AgentConfig struct {
	// DataDir holds the node's credentials, pods' files, logs, images/
	// and, when the agent runs its own, containerd's state.
	DataDir string
	// NodeName defaults to the host name.
	NodeName string
	// Join is a master's API address; Token a worker (or server) token.
	// Needed only the first time, until the node has its certificate.
	Join  string
	Token string
	// Address is host:port of the agent's endpoint (logs, exec, images);
	// its host is the node's InternalIP. Default 127.0.0.1:10250.
	Address string
	// ContainerdAddress is containerd's socket; empty: the system's if one
	// runs, else a containerd the agent starts under DataDir.
	ContainerdAddress string
	// Runtime is "containerd" (default) or "fake" (scale benchmarks only:
	// nothing runs).
	Runtime string
	// RegistryConfig is a registries.yaml (mirrors, plain HTTP, auth).
	RegistryConfig string
	// ProxyMode is how Services are programmed: auto (the default: IPVS
	// where the kernel has it, else nftables), ipvs, nftables, or none (no
	// service proxy; the default of the fake runtime, which must not
	// touch the host).
	ProxyMode string
	// ServiceCIDR is the masters' --service-cidr, routed to the proxy's
	// sink device; default 10.43.0.0/16.
	ServiceCIDR string
	// ClusterDNS is the node-local address the cluster DNS server listens
	// on and pods use as their nameserver (default DefaultClusterDNS;
	// "none" turns it off, as does the fake runtime); ClusterDomain the
	// cluster's domain (cluster.local); DNSUpstreams the resolvers for
	// other names (default: the host's /etc/resolv.conf).
	ClusterDNS    string
	ClusterDomain string
	DNSUpstreams  []string
	// StorageDir holds the node's local-path volumes, one directory per
	// claim; default <DataDir>/storage ("" with the fake runtime: the
	// node then offers no local-path storage).
	StorageDir string
	// DrainDelay is how long a deleted pod that has left its Services'
	// endpoints and this node's proxy still waits, for the other nodes'
	// proxies, before its preStop hooks and SIGTERM; default 1 s.
	DrainDelay time.Duration
	SyncPeriod time.Duration
	// HeartbeatPeriod is how often the node posts its status (the
	// masters' --node-monitor-grace must be well above it); default 10 s.
	HeartbeatPeriod time.Duration
	// UsagePeriod is how often pods' and the node's usage is reported;
	// default 15 s.
	UsagePeriod time.Duration
	Labels      map[string]string
	Taints      []corev1.Taint
	MaxPods     int
	Version     string
	Out         io.Writer
	Logger      *slog.Logger

	// issue, set by a server for its own agent, certifies the node
	// directly instead of joining with a token.
	issue func(csrPEM []byte, hosts []string) (certPEM, bundle []byte, servers []string, err error)
}

// Agent files under the data dir.
const (
	agentCertName = "node"
	agentCAFile   = "ca.crt"
	agentServers  = "servers.json"
)

// RunAgent runs a node agent until ctx ends.
func RunAgent(ctx context.Context, cfg AgentConfig) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	log := cfg.Logger.With("node", cfg.NodeName)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	keys, servers, err := agentCredentials(ctx, &cfg)
	if err != nil {
		return err
	}
	// One HTTP/2 connection per master carries the watches and the pod
	// workers' status writes, as kubelet's does.
	api, err := client.New(&client.Config{Servers: servers}, client.Options{TLS: keys.ClientTLS(), Multiplex: true, Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	cluster := newAgentCluster(api)
	go renewNodeCert(ctx, cfg.DataDir, keys, api, log)

	rt, closeRT, err := agentRuntime(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeRT()
	vols, err := volumes.New(volumes.Config{Root: cfg.DataDir, Source: cluster, Claims: cluster, NodeName: cfg.NodeName, Logger: log})
	if err != nil {
		return err
	}
	host, portStr, _ := net.SplitHostPort(cfg.Address)
	port, _ := strconv.Atoi(portStr)
	network := &lateNetwork{}
	rotation := &rotationGate{delay: cfg.DrainDelay, log: log}
	ag, err := agent.New(agent.Config{NodeName: cfg.NodeName, DataDir: cfg.DataDir, Cluster: cluster, Runtime: rt,
		Network: network, Volumes: vols, SyncPeriod: cfg.SyncPeriod, HostIP: host, Logger: log,
		ClusterDNS: cfg.ClusterDNS, ClusterDomain: cfg.ClusterDomain, OutOfRotation: rotation.wait})
	if err != nil {
		return err
	}

	// The endpoint first: the API can reach logs as soon as pods run.
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return fmt.Errorf("agent endpoint: %w", err)
	}
	srv := &http.Server{Handler: endpoint.Handler(ag.Backend(), endpoint.RequireServerCert),
		TLSConfig: keys.ServerTLS(true), ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietTLSLog()}
	go func() { _ = srv.Serve(tls.NewListener(ln, srv.TLSConfig)) }()
	defer srv.Close()

	nc := agent.NodeConfig{Labels: cfg.Labels, Taints: cfg.Taints, MaxPods: cfg.MaxPods, Port: int32(port), Version: cfg.Version,
		Heartbeat: cfg.HeartbeatPeriod}
	// Without a storage directory the node stops offering local-path
	// storage, also if an earlier run did.
	nc.Annotations = map[string]string{apis.AnnotationLocalPathRoot: cfg.StorageDir}
	fmt.Fprintf(cfg.Out, "node %s: registering with %s\n", cfg.NodeName, strings.Join(servers, ", "))
	node, err := ag.Register(ctx, nc)
	if err != nil {
		return fmt.Errorf("registering node %s: %w", cfg.NodeName, err)
	}
	if cfg.Runtime == "fake" {
		network.set(podnet.NewFake(node.Spec.PodCIDR))
	} else {
		ncfg := podnet.DefaultConfig()
		ncfg.PodCIDR, ncfg.Logger = node.Spec.PodCIDR, log
		// Per node, so that several agents can share a host (tests).
		ncfg.NetNSDir = filepath.Join("/run/skiff/netns", cfg.NodeName)
		ncfg.IPAMDataDir = filepath.Join(cfg.DataDir, "cni", "ipam")
		ncfg.BridgeName = bridgeName(cfg.NodeName)
		cni, err := podnet.New(ncfg)
		if err != nil {
			return fmt.Errorf("pod network %s: %w", node.Spec.PodCIDR, err)
		}
		network.set(cni)
	}
	go ag.Heartbeat(ctx, nc)
	go ag.MeasureUsage(ctx, cfg.UsagePeriod)
	if cfg.ProxyMode != ProxyNone || cfg.ClusterDNS != "" {
		watches := newServiceWatches(api, log)
		var p *proxy.Proxier
		if cfg.ProxyMode != ProxyNone {
			if p, err = startProxy(ctx, cfg, watches, log); err != nil {
				return fmt.Errorf("service proxy: %w", err)
			}
		}
		rotation.set(watches, p)
		if cfg.ClusterDNS != "" {
			if err := startClusterDNS(ctx, cfg, api, watches, log); err != nil {
				return fmt.Errorf("cluster DNS: %w", err)
			}
		}
		watches.run(ctx)
	}

	pods := client.NewInformer(api, resourceOf(api, "Pod"), client.ListOptions{FieldSelector: "spec.nodeName=" + cfg.NodeName}, log)
	pods.AddHandler(client.Handler{
		OnAdd:    func(o apis.Object) { ag.PodUpdated(o.(*corev1.Pod)) },
		OnUpdate: func(_, o apis.Object) { ag.PodUpdated(o.(*corev1.Pod)) },
		OnDelete: func(o apis.Object) { ag.PodDeleted(o.(*corev1.Pod)) },
	})
	go pods.Run(ctx)
	select {
	case <-pods.Synced():
	case <-ctx.Done():
		return nil
	}
	if err := ag.CleanUpLeftovers(ctx); err != nil {
		log.Warn("cleaning up after an earlier run", "err", err)
	}
	go watchImageDir(ctx, filepath.Join(cfg.DataDir, "images"), rt, log)
	if cfg.StorageDir != "" {
		go reclaimLocalVolumes(ctx, api, cfg.NodeName, log)
	}
	fmt.Fprintf(cfg.Out, "node %s: ready (pod CIDR %s, endpoint %s)\n", cfg.NodeName, node.Spec.PodCIDR, cfg.Address)
	return ag.Run(ctx)
}

func (cfg *AgentConfig) defaults() error {
	if cfg.DataDir == "" {
		return errors.New("--data-dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--node-name not given and no host name: %w", err)
		}
		cfg.NodeName = strings.ToLower(h)
	}
	if msgs := validation.IsDNS1123Subdomain(cfg.NodeName); len(msgs) > 0 {
		return fmt.Errorf("--node-name %q: %s", cfg.NodeName, strings.Join(msgs, "; "))
	}
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:10250"
	}
	if cfg.UsagePeriod == 0 {
		cfg.UsagePeriod = 15 * time.Second
	}
	host, _, err := net.SplitHostPort(cfg.Address)
	if err != nil || net.ParseIP(host) == nil || net.ParseIP(host).IsUnspecified() {
		return fmt.Errorf("--address %q: must be IP:port with the node's own IP (the masters reach the agent there)", cfg.Address)
	}
	switch cfg.Runtime {
	case "":
		cfg.Runtime = "containerd"
	case "containerd", "fake":
	default:
		return fmt.Errorf("--runtime %q: must be containerd or fake", cfg.Runtime)
	}
	switch cfg.ProxyMode {
	case "", ProxyAuto:
		cfg.ProxyMode = ProxyAuto
		if cfg.Runtime == "fake" {
			cfg.ProxyMode = ProxyNone
		}
	case ProxyIPVS, ProxyNFTables, ProxyNone:
	default:
		return fmt.Errorf("--proxy-mode %q: must be auto, ipvs, nftables or none", cfg.ProxyMode)
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = server.DefaultServiceCIDR
	}
	switch {
	case cfg.ClusterDNS == "none" || cfg.Runtime == "fake" && cfg.ClusterDNS == "":
		cfg.ClusterDNS = ""
	case cfg.ClusterDNS == "":
		cfg.ClusterDNS = DefaultClusterDNS
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.DrainDelay == 0 {
		cfg.DrainDelay = time.Second
	}
	switch {
	case cfg.StorageDir == "none" || cfg.Runtime == "fake" && cfg.StorageDir == "":
		cfg.StorageDir = ""
	case cfg.StorageDir == "":
		cfg.StorageDir = filepath.Join(cfg.DataDir, "storage")
	}
	if cfg.StorageDir != "" {
		abs, err := filepath.Abs(cfg.StorageDir)
		if err != nil {
			return fmt.Errorf("--storage-dir %q: %w", cfg.StorageDir, err)
		}
		cfg.StorageDir = abs
	}
	if _, err := netip.ParsePrefix(cfg.ServiceCIDR); err != nil {
		return fmt.Errorf("--service-cidr %q: %w", cfg.ServiceCIDR, err)
	}
	return nil
}

// agentCredentials loads the node's certificate, or obtains one: from the
// local server for its own agent, else by joining with a token.
func agentCredentials(ctx context.Context, cfg *AgentConfig) (*pki.KeyPair, []string, error) {
	dir := cfg.DataDir
	certPEM, keyPEM, err := pki.LoadKeyPairFiles(dir, agentCertName)
	if err == nil {
		bundle, err := os.ReadFile(filepath.Join(dir, agentCAFile))
		if err != nil {
			return nil, nil, err
		}
		raw, err := os.ReadFile(filepath.Join(dir, agentServers))
		if err != nil {
			return nil, nil, err
		}
		var servers []string
		if err := json.Unmarshal(raw, &servers); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", agentServers, err)
		}
		kp, err := pki.NewKeyPair(certPEM, keyPEM, bundle)
		return kp, servers, err
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	host, _, _ := net.SplitHostPort(cfg.Address)
	csr, keyPEM, err := pki.NewCSR(pki.NodeName(cfg.NodeName))
	if err != nil {
		return nil, nil, err
	}
	var bundle []byte
	var servers []string
	switch {
	case cfg.issue != nil:
		certPEM, bundle, servers, err = cfg.issue(csr, []string{host})
		if err != nil {
			return nil, nil, err
		}
	case cfg.Join == "" || cfg.Token == "":
		return nil, nil, fmt.Errorf("%s holds no node credentials: pass --join HOST:PORT --token T (a worker token from `skiff token create --role worker`)", dir)
	default:
		tok, err := pki.ParseToken(cfg.Token)
		if err != nil {
			return nil, nil, fmt.Errorf("--token: %w", err)
		}
		target := strings.TrimPrefix(cfg.Join, "https://")
		req := &skiffv1.JoinRequest{Token: tok.String(), Role: skiffv1.RoleWorker, Name: cfg.NodeName, CSR: string(csr), APIAddress: cfg.Address}
		var resp *skiffv1.JoinResponse
		err = retryJoin(ctx, cfg.Out, target, func() error {
			ca, err := fetchPinnedCA(ctx, target, tok)
			if err != nil {
				return err
			}
			c, err := pinnedClient(target, ca, nil, nil)
			if err != nil {
				return err
			}
			resp, err = c.Join(ctx, req)
			return err
		})
		if err != nil {
			return nil, nil, err
		}
		certPEM, bundle = []byte(resp.Certificate), []byte(resp.CABundle)
		for _, s := range resp.APIAddresses {
			servers = append(servers, "https://"+s)
		}
		if len(servers) == 0 {
			servers = []string{"https://" + target}
		}
	}
	if err := pki.SaveKeyPair(dir, agentCertName, certPEM, keyPEM); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, agentCAFile), bundle, 0o644); err != nil {
		return nil, nil, err
	}
	raw, _ := json.Marshal(servers)
	if err := os.WriteFile(filepath.Join(dir, agentServers), raw, 0o600); err != nil {
		return nil, nil, err
	}
	kp, err := pki.NewKeyPair(certPEM, keyPEM, bundle)
	return kp, servers, err
}

// renewNodeCert renews the node's certificate at two thirds of its life,
// and at once when the cluster's CA changed (`skiff ca rotate`): the node
// then holds a certificate of the new CA and trusts it.
func renewNodeCert(ctx context.Context, dir string, keys *pki.KeyPair, api *client.Client, log *slog.Logger) {
	const caCheck = 30 * time.Second
	for {
		wait := time.Until(pki.RenewAt(keys.Leaf()))
		if wait > caCheck {
			wait = caCheck
		}
		if wait < time.Second {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if time.Now().Before(pki.RenewAt(keys.Leaf())) {
			bundle, err := api.CABundle(ctx)
			have, _ := os.ReadFile(filepath.Join(dir, agentCAFile))
			if err != nil || bytes.Equal(bytes.TrimSpace(bundle), bytes.TrimSpace(have)) {
				continue // not due, and the CA is the same
			}
			log.Info("the cluster CA changed: renewing the node certificate")
		}
		if err := renewOnce(ctx, dir, keys, api); err != nil {
			log.Warn("renewing the node certificate; retrying in a minute", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Minute):
			}
			continue
		}
		log.Info("node certificate renewed", "notAfter", keys.Leaf().NotAfter)
	}
}

func renewOnce(ctx context.Context, dir string, keys *pki.KeyPair, api *client.Client) error {
	csr, keyPEM, err := pki.NewCSR(keys.Leaf().Subject.CommonName)
	if err != nil {
		return err
	}
	resp, err := api.Renew(ctx, &skiffv1.RenewRequest{CSR: string(csr)})
	if err != nil {
		return err
	}
	if err := keys.Set([]byte(resp.Certificate), keyPEM); err != nil {
		return err
	}
	keys.SetTrust([]byte(resp.CABundle))
	if err := pki.SaveKeyPair(dir, agentCertName, []byte(resp.Certificate), keyPEM); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, agentCAFile), []byte(resp.CABundle), 0o644)
}

// agentRuntime connects to containerd (starting one if none runs) or
// returns the fake runtime.
func agentRuntime(ctx context.Context, cfg AgentConfig, log *slog.Logger) (runtime.Runtime, func(), error) {
	if cfg.Runtime == "fake" {
		log.Warn("runtime fake: pods are recorded, never run (scale benchmarks only)")
		return runtime.NewFake(nil), func() {}, nil
	}
	addr := cfg.ContainerdAddress
	var own *ctrd.Daemon
	if addr == "" {
		switch {
		case ctrd.Reachable(ctrd.DefaultAddress):
			addr = ctrd.DefaultAddress
		default:
			d, err := ctrd.StartDaemon(ctx, ctrd.DaemonConfig{Dir: filepath.Join(cfg.DataDir, "containerd"), Logger: log})
			if err != nil {
				return nil, nil, err
			}
			addr, own = d.Address, d
			log.Info("started containerd", "address", addr)
		}
	}
	var regs *ctrd.RegistryConfig
	if cfg.RegistryConfig != "" {
		var err error
		if regs, err = ctrd.LoadRegistryConfig(cfg.RegistryConfig); err != nil {
			return nil, nil, fmt.Errorf("--registry-config: %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	rt, err := ctrd.New(ctx, ctrd.Config{Address: addr, Namespace: "skiff-" + cfg.NodeName, LoggerBinary: self,
		Registries: regs, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return rt, func() {
		rt.Close()
		if own != nil {
			// The agent's context has ended: wait for containerd to stop
			// (its containers keep running).
			select {
			case <-own.Done():
			case <-time.After(10 * time.Second):
			}
		}
	}, nil
}

// bridgeName is the node's bridge: skiff0 for a host's only agent; tests
// that run several agents on one host get one per node.
func bridgeName(node string) string {
	if v := os.Getenv("SKIFF_BRIDGE"); v != "" {
		return v
	}
	return "skiff0"
}

func resourceOf(c *client.Client, kind string) *resources.Resource {
	r, _ := c.Registry().ByKind(kind)
	return r
}
