package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/skiffv1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// skiffCluster is three `skiff server` masters on loopback, each with its own
// data directory and log, driven only through the HTTP API with apis/client
// (the path every real client takes, including a follower forwarding a write
// to the leader). By default the masters run as deployed: mutual TLS 1.3,
// authentication, authorization and the audit log; with insecure they run
// with --insecure-bench-only (plain HTTP and Raft, no authentication).
type skiffCluster struct {
	bin      string
	insecure bool
	scheme   string
	masters  []*skiffMaster
	// tls holds the cluster CA and the admin certificate from master 1's
	// admin.conf; nil when insecure.
	tls *tls.Config
	// tr is shared by all the load's clients: a benchmark that opened a
	// transport per client would measure connection setup.
	tr *http.Transport
	// all is a client that knows every master (health, leader lookup).
	all *client.Client
}

type skiffMaster struct {
	dir, api, raft string
	insecure       bool
	p              *proc
}

// args are the master's flags once it has state: a restart needs neither
// --init nor --join.
func (m *skiffMaster) args() []string {
	args := []string{"server", "--data-dir", m.dir, "--api-addr", m.api, "--raft-addr", m.raft, "--no-agent"}
	if m.insecure {
		args = append(args, "--insecure-bench-only")
	}
	// SKIFF_BENCH_PROFILE=1 (with -keep) leaves a CPU profile per master.
	if os.Getenv("SKIFF_BENCH_PROFILE") != "" {
		args = append(args, "--cpu-profile", filepath.Join(m.dir, "cpu.prof"))
	}
	return args
}

// startupTimeout bounds how long a server may take to become ready.
const startupTimeout = 30 * time.Second

// startSkiff starts master 1 with --init, then joins masters 2 and 3 with
// the token master 1 wrote, and waits until the three are healthy. Once it
// has started anything it returns the cluster even with an error, so that
// the caller's close stops what did start.
func startSkiff(ctx context.Context, bin, root string, insecure bool, ps *procs) (*skiffCluster, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("skiff binary: %w (run `make build` first)", err)
	}
	addrs, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	s := &skiffCluster{bin: bin, insecure: insecure, scheme: "https"}
	if insecure {
		s.scheme = "http"
	}
	for i := range 3 {
		dir := filepath.Join(root, fmt.Sprintf("skiff-m%d", i+1))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return s, err
		}
		s.masters = append(s.masters, &skiffMaster{dir: dir, api: addrs[2*i], raft: addrs[2*i+1], insecure: insecure})
	}
	var token string
	for i, m := range s.masters {
		args := m.args()
		if i == 0 {
			args = append(args, "--init")
		} else {
			args = append(args, "--join", s.masters[0].api, "--token", token)
		}
		m.p, err = ps.start(fmt.Sprintf("skiff master %d", i+1), filepath.Join(m.dir, "log"), bin, args...)
		if err != nil {
			return s, err
		}
		if i == 0 {
			if err := s.loadAdminConfig(ctx); err != nil {
				return s, err
			}
		}
		if err := s.waitReady(ctx, i); err != nil {
			return s, err
		}
		if i == 0 {
			raw, err := os.ReadFile(filepath.Join(m.dir, "token"))
			if err != nil {
				return s, fmt.Errorf("reading the join token: %w", err)
			}
			token = strings.TrimSpace(string(raw))
		}
	}
	s.all, err = client.New(&client.Config{Servers: s.urls(0)}, client.Options{Transport: s.tr, Timeout: 5 * time.Second})
	if err != nil {
		return s, err
	}
	return s, s.waitHealthy(ctx)
}

// loadAdminConfig waits for master 1's admin.conf (written once the new
// cluster has its first leader and tokens) and takes the CA and the admin
// certificate from it.
func (s *skiffCluster) loadAdminConfig(ctx context.Context) error {
	m := s.masters[0]
	path := filepath.Join(m.dir, "admin.conf")
	deadline := time.Now().Add(startupTimeout)
	for {
		cfg, err := client.LoadConfig(path)
		if err == nil {
			if s.tls, err = clientTLS(cfg); err != nil {
				return err
			}
			if s.tls == nil && !s.insecure {
				return fmt.Errorf("%s holds no credentials", path)
			}
			s.tr = newTransport(s.tls)
			return nil
		}
		if !m.p.alive() {
			return errors.New("skiff master 1 exited while starting (its log follows)")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no usable %s after %s: %v", path, startupTimeout, err)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// newTransport is an HTTP transport with room for every client of the
// biggest run to keep its connection: apis/client's own transport keeps
// 256 idle connections per host but, cloned from the default, at most 100
// in all.
func newTransport(tc *tls.Config) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0 // no overall limit
	tr.MaxIdleConnsPerHost = 512
	tr.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSClientConfig = tc
	return tr
}

// url returns master i's API URL.
func (s *skiffCluster) url(i int) string { return s.scheme + "://" + s.masters[i].api }

// urls returns the masters' API URLs starting with master first.
func (s *skiffCluster) urls(first int) []string {
	var out []string
	for i := range s.masters {
		out = append(out, s.url((first+i)%len(s.masters)))
	}
	return out
}

// waitReady waits until master i answers /readyz with 200 (it has caught
// up with the leader), failing early should the process exit.
func (s *skiffCluster) waitReady(ctx context.Context, i int) error {
	m := s.masters[i]
	hc := &http.Client{Transport: s.tr, Timeout: 2 * time.Second}
	deadline := time.Now().Add(startupTimeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url(i)+"/readyz", nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !m.p.alive() {
			return fmt.Errorf("skiff master %d exited while starting (its log follows)", i+1)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("skiff master %d not ready after %s (its log follows)", i+1, startupTimeout)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitHealthy waits until the members endpoint shows three healthy masters,
// one of them leader, all applied within a few entries of the leader.
func (s *skiffCluster) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(startupTimeout)
	var last string
	for {
		members, err := s.all.Members(ctx)
		if err == nil {
			last = describeMembers(members)
			healthy, leaders := 0, 0
			var leaderIdx uint64
			for _, m := range members {
				if m.Healthy {
					healthy++
				}
				if m.Leader {
					leaders++
					leaderIdx = m.AppliedIdx
				}
			}
			caughtUp := true
			for _, m := range members {
				if m.AppliedIdx+100 < leaderIdx {
					caughtUp = false
				}
			}
			if len(members) == 3 && healthy == 3 && leaders == 1 && caughtUp {
				return nil
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("skiff masters not healthy after %s: %s", startupTimeout, last)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

func describeMembers(ms []skiffv1.MemberStatus) string {
	var parts []string
	for _, m := range ms {
		s := fmt.Sprintf("%s api=%s leader=%v healthy=%v applied=%d", m.ID, m.APIAddress, m.Leader, m.Healthy, m.AppliedIdx)
		if m.Error != "" {
			s += " error=" + m.Error
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// leader returns the index of the master the members endpoint calls leader.
func (s *skiffCluster) leader(ctx context.Context) (int, error) {
	members, err := s.all.Members(ctx)
	if err != nil {
		return 0, err
	}
	for _, m := range members {
		if !m.Leader {
			continue
		}
		for i, sm := range s.masters {
			if sm.api == m.APIAddress {
				return i, nil
			}
		}
		return 0, fmt.Errorf("leader %s has API address %q, not one of ours", m.ID, m.APIAddress)
	}
	return 0, errors.New("no skiff master is leader: " + describeMembers(members))
}

// payload is the 1 KiB data value of every object written.
var payload = strings.Repeat("0123456789abcdef", 64)

// configMap is the object each write creates.
func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Data:       map[string]string{"value": payload},
	}
}

// createWith creates with CreateOnly: the server still answers with the
// stored object, but the client leaves it undecoded, as etcd's client has
// no object to decode from a Put's answer (and as skiff's agents write).
func createWith(c *client.Client) writeFunc {
	return func(ctx context.Context, name string) error {
		return c.CreateOnly(ctx, configMap(name))
	}
}

// writers gives writer i a client of master i%3 only: writes reaching a
// follower are forwarded to the leader, as they are for real clients.
//
// The writers of one master share one client, with apis/client's own
// transports, as the goroutines of one program would: its connections
// open during the warm-up.
func (s *skiffCluster) writers(n int) ([]writeFunc, func(), error) {
	var clients []*client.Client
	closeAll := func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}
	for i := range s.masters {
		c, err := client.New(&client.Config{Servers: []string{s.url(i)}}, client.Options{TLS: s.tls})
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		clients = append(clients, c)
	}
	out := make([]writeFunc, n)
	for i := range out {
		out[i] = createWith(clients[i%len(clients)])
	}
	return out, closeAll, nil
}

// watch watches ConfigMaps in "default" on a follower, from the current
// revision on (no initial listing of what earlier runs created).
func (s *skiffCluster) watch(ctx context.Context, onEvent func(string, time.Time)) (func(), error) {
	li, err := s.leader(ctx)
	if err != nil {
		return nil, err
	}
	f := (li + 1) % len(s.masters)
	c, err := client.New(&client.Config{Servers: []string{s.url(f)}}, client.Options{TLS: s.tls})
	if err != nil {
		return nil, err
	}
	res, ok := resources.Default().ByKind("ConfigMap")
	if !ok {
		return nil, errors.New("the registry has no ConfigMap")
	}
	l, err := c.List(ctx, res, client.ListOptions{Namespace: "default", Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("listing for a resourceVersion: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	w, err := c.Watch(wctx, res, client.ListOptions{Namespace: "default", ResourceVersion: l.ResourceVersion})
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.Events() {
			at := time.Now()
			if ev.Object != nil {
				onEvent(ev.Object.GetName(), at)
			}
		}
	}()
	return func() { w.Stop(); cancel(); <-done; c.CloseIdleConnections() }, nil
}

// seqWriter is one client listing all three masters, first one first: when
// that master dies, apis/client moves on to the next.
func (s *skiffCluster) seqWriter(first int) (writeFunc, func(), error) {
	c, err := client.New(&client.Config{Servers: s.urls(first)}, client.Options{TLS: s.tls})
	if err != nil {
		return nil, nil, err
	}
	return createWith(c), c.CloseIdleConnections, nil
}

// controllersAct implements controllerTimer: the ReplicaSet controller
// runs only on the leader, so its pod shows that the new leader's loops
// have started.
func (s *skiffCluster) controllersAct(ctx context.Context, dead int, name string) (time.Time, error) {
	c, err := client.New(&client.Config{Servers: s.urls((dead + 1) % len(s.masters))}, client.Options{Transport: s.tr, Timeout: 5 * time.Second})
	if err != nil {
		return time.Time{}, err
	}
	one := int32(1)
	labels := map[string]string{"failover": name}
	rs := &appsv1.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	if _, err := c.Create(ctx, rs); err != nil {
		return time.Time{}, fmt.Errorf("creating ReplicaSet %s: %w", name, err)
	}
	res, _ := resources.Default().ByKind("Pod")
	deadline := time.Now().Add(failoverGiveUp)
	for time.Now().Before(deadline) {
		l, err := c.List(ctx, res, client.ListOptions{Namespace: "default", LabelSelector: "failover=" + name})
		if err == nil && len(l.Items) > 0 {
			return time.Now(), nil
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
	return time.Time{}, fmt.Errorf("no pod of ReplicaSet %s within %s", name, failoverGiveUp)
}

func (s *skiffCluster) kill(i int) { s.masters[i].p.kill() }

// restart starts master i again on its data directory (no --init or
// --join: it has state) and waits until it is ready.
func (s *skiffCluster) restart(ctx context.Context, i int) error {
	if err := s.masters[i].p.restart(s.masters[i].args()...); err != nil {
		return err
	}
	return s.waitReady(ctx, i)
}

func (s *skiffCluster) cpu() time.Duration {
	var ps []*proc
	for _, m := range s.masters {
		ps = append(ps, m.p)
	}
	return totalCPU(ps...)
}

func (s *skiffCluster) close() {
	for _, m := range s.masters {
		if m.p != nil {
			m.p.kill()
		}
	}
	if s.tr != nil {
		s.tr.CloseIdleConnections()
	}
}

// sleepCtx sleeps for d unless ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
