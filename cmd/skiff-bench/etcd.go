package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// etcdCluster is three members of Debian's etcd on loopback, with etcd's
// default settings (fsync on, heartbeat 100 ms, election 1 s) and, unless
// insecure, mutual TLS on the client and peer URLs as skiff has: the
// baseline skiff's store is compared with.
type etcdCluster struct {
	members []*etcdMember
	scheme  string
	tls     *tls.Config // nil when insecure
}

type etcdMember struct {
	name, dir, client, peer string
	p                       *proc
}

// etcdPrefix is where the objects go: the key kube-apiserver would use.
const etcdPrefix = "/registry/configmaps/default/"

// startEtcd starts the three members at once (a new etcd cluster needs all
// of them to elect a leader) and waits until they agree on one. Like
// startSkiff it returns the cluster even with an error once it exists.
func startEtcd(ctx context.Context, bin, root string, insecure bool, ps *procs) (*etcdCluster, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("etcd: %w (apt-get install etcd-server)", err)
	}
	addrs, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	e := &etcdCluster{scheme: "http"}
	var tlsFlags []string
	if !insecure {
		p, err := makeEtcdPKI(filepath.Join(root, "etcd-pki"))
		if err != nil {
			return e, fmt.Errorf("etcd certificates: %w", err)
		}
		e.scheme, e.tls = "https", p.client
		tlsFlags = []string{
			"--cert-file", p.certFile, "--key-file", p.keyFile, "--trusted-ca-file", p.caFile, "--client-cert-auth",
			"--peer-cert-file", p.certFile, "--peer-key-file", p.keyFile, "--peer-trusted-ca-file", p.caFile, "--peer-client-cert-auth",
		}
	}
	var initial []string
	for i := range 3 {
		m := &etcdMember{name: fmt.Sprintf("e%d", i+1), dir: filepath.Join(root, fmt.Sprintf("etcd-e%d", i+1)), client: addrs[2*i], peer: addrs[2*i+1]}
		e.members = append(e.members, m)
		initial = append(initial, m.name+"="+e.scheme+"://"+m.peer)
	}
	token := "skiff-bench-" + uuid.NewString()[:8]
	for _, m := range e.members {
		if err := os.MkdirAll(m.dir, 0o700); err != nil {
			return e, err
		}
		clientURL, peerURL := e.scheme+"://"+m.client, e.scheme+"://"+m.peer
		args := append([]string{"--name", m.name, "--data-dir", filepath.Join(m.dir, "data"),
			"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", token, "--logger", "zap", "--log-level", "warn"}, tlsFlags...)
		m.p, err = ps.start("etcd "+m.name, filepath.Join(m.dir, "log"), path, args...)
		if err != nil {
			return e, err
		}
	}
	return e, e.waitHealthy(ctx)
}

// etcdVersion returns the first line of `etcd --version`.
func etcdVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return "etcd " + strings.TrimSpace(strings.TrimPrefix(line, "etcd Version:"))
}

// newClient returns a clientv3 client of the members at endpoints
// (host:port), balancing over them.
func (e *etcdCluster) newClient(endpoints ...string) (*clientv3.Client, error) {
	var urls []string
	for _, ep := range endpoints {
		urls = append(urls, e.scheme+"://"+ep)
	}
	return clientv3.New(clientv3.Config{Endpoints: urls, DialTimeout: 3 * time.Second, TLS: e.tls, Logger: zap.NewNop()})
}

// status asks every member for its status with a fresh client each time (a
// long-lived gRPC connection to a restarted member may sit in reconnect
// backoff for seconds).
func (e *etcdCluster) status(ctx context.Context) ([]*clientv3.StatusResponse, error) {
	out := make([]*clientv3.StatusResponse, len(e.members))
	for i, m := range e.members {
		c, err := e.newClient(m.client)
		if err != nil {
			return nil, err
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		out[i], err = c.Status(sctx, e.scheme+"://"+m.client)
		cancel()
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("etcd %s: %w", m.name, err)
		}
	}
	return out, nil
}

// waitHealthy waits until the three members answer, name the same leader,
// and have applied within a few entries of each other.
func (e *etcdCluster) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(startupTimeout)
	for {
		st, err := e.status(ctx)
		if err == nil {
			leader := st[0].Leader
			var lo, hi uint64 = st[0].RaftIndex, st[0].RaftIndex
			same := leader != 0
			for _, s := range st {
				same = same && s.Leader == leader
				lo, hi = min(lo, s.RaftIndex), max(hi, s.RaftIndex)
			}
			if same && hi-lo <= 100 {
				return nil
			}
			err = fmt.Errorf("members disagree on the leader or lag (raft index %d..%d)", lo, hi)
		}
		for i, m := range e.members {
			if !m.p.alive() {
				return fmt.Errorf("etcd %s exited (its log follows)", e.members[i].name)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not healthy after %s: %v", startupTimeout, err)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

func (e *etcdCluster) leader(ctx context.Context) (int, error) {
	st, err := e.status(ctx)
	if err != nil {
		return 0, err
	}
	for i, s := range st {
		if s.Header.MemberId == s.Leader {
			return i, nil
		}
	}
	return 0, errors.New("no etcd member is leader")
}

// storedJSON is what skiff stores for configMap(name): the object with the
// fields the server fills in. etcd is given these bytes, so both store
// the same amount.
func storedJSON(name string) ([]byte, error) {
	cm := configMap(name)
	cm.UID = "00000000-0000-0000-0000-000000000000"
	cm.ResourceVersion = "1000000"
	cm.CreationTimestamp = metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	return json.Marshal(cm)
}

func putWith(c *clientv3.Client) writeFunc {
	return func(ctx context.Context, name string) error {
		val, err := storedJSON(name)
		if err != nil {
			return err
		}
		_, err = c.Put(ctx, etcdPrefix+name, string(val))
		return err
	}
}

// writers gives writer i a client of member i%3 only, as for skiff.
func (e *etcdCluster) writers(n int) ([]writeFunc, func(), error) {
	var clients []*clientv3.Client
	closeAll := func() {
		for _, c := range clients {
			c.Close()
		}
	}
	for _, m := range e.members {
		c, err := e.newClient(m.client)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		clients = append(clients, c)
	}
	out := make([]writeFunc, n)
	for i := range out {
		out[i] = putWith(clients[i%len(clients)])
	}
	return out, closeAll, nil
}

// watch watches the prefix on a member that is not the leader, from now.
func (e *etcdCluster) watch(ctx context.Context, onEvent func(string, time.Time)) (func(), error) {
	li, err := e.leader(ctx)
	if err != nil {
		return nil, err
	}
	c, err := e.newClient(e.members[(li+1)%len(e.members)].client)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	wch := c.Watch(clientv3.WithRequireLeader(wctx), etcdPrefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	select {
	case resp, ok := <-wch:
		if !ok || !resp.Created {
			cancel()
			c.Close()
			return nil, fmt.Errorf("etcd watch not created: %v", resp.Err())
		}
	case <-time.After(10 * time.Second):
		cancel()
		c.Close()
		return nil, errors.New("etcd watch not created after 10s")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for resp := range wch {
			at := time.Now()
			for _, ev := range resp.Events {
				onEvent(strings.TrimPrefix(string(ev.Kv.Key), etcdPrefix), at)
			}
		}
	}()
	return func() { cancel(); <-done; c.Close() }, nil
}

// seqWriter is one client of all three members, first one first.
func (e *etcdCluster) seqWriter(first int) (writeFunc, func(), error) {
	var eps []string
	for i := range e.members {
		eps = append(eps, e.members[(first+i)%len(e.members)].client)
	}
	c, err := e.newClient(eps...)
	if err != nil {
		return nil, nil, err
	}
	return putWith(c), func() { c.Close() }, nil
}

func (e *etcdCluster) kill(i int) { e.members[i].p.kill() }

// restart starts member i again on its data directory; etcd ignores the
// --initial-cluster flags once it has state.
func (e *etcdCluster) restart(ctx context.Context, i int) error {
	return e.members[i].p.restart()
}

func (e *etcdCluster) cpu() time.Duration {
	var ps []*proc
	for _, m := range e.members {
		ps = append(ps, m.p)
	}
	return totalCPU(ps...)
}

func (e *etcdCluster) close() {
	for _, m := range e.members {
		if m.p != nil {
			m.p.kill()
		}
	}
}
