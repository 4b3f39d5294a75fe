package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/skiffhq/skiff/apis/pki"
	"github.com/skiffhq/skiff/apis/skiffv1"
	corev1 "k8s.io/api/core/v1"
)

// runAgent runs this server's own agent: the same code as `skiff agent`,
// certified by this master instead of joining with a token. A failing
// agent is reported but leaves the master serving.
func (m *masterProc) runAgent(ctx context.Context) {
	cfg := m.cfg.Agent
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(m.cfg.DataDir, "agent")
	}
	if cfg.Address == "" {
		host, _, _ := net.SplitHostPort(m.cfg.APIAddr)
		cfg.Address = net.JoinHostPort(host, "10250")
	}
	if cfg.Logger == nil {
		cfg.Logger = m.log
	}
	if cfg.Out == nil {
		cfg.Out = m.cfg.Out
	}
	if cfg.Version == "" {
		cfg.Version = m.cfg.Version
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = m.cfg.ServiceCIDR
	}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels["node-role.kubernetes.io/control-plane"] = "true"
	cfg.issue = func(csrPEM []byte, hosts []string) ([]byte, []byte, []string, error) {
		csr, err := pki.ParseCSR(csrPEM)
		if err != nil {
			return nil, nil, nil, err
		}
		ca := m.pki.CA()
		cert, err := ca.Sign(csrPEM, pki.IssueOptions{Identity: pki.Identity{Name: csr.Subject.CommonName, Role: pki.RoleNode},
			Hosts: hosts, Lifetime: m.pki.lifetime})
		if err != nil {
			return nil, nil, nil, err
		}
		servers := []string{m.scheme + "://" + m.cfg.APIAddr}
		for _, o := range m.node.FSM().View().List("Member", "") {
			if a := o.(*skiffv1.Member).Spec.APIAddress; a != m.cfg.APIAddr {
				servers = append(servers, m.scheme+"://"+a)
			}
		}
		return cert, ca.Bundle, servers, nil
	}
	if err := RunAgent(ctx, cfg); err != nil && ctx.Err() == nil {
		m.log.Error("the local agent stopped", "err", err)
		fmt.Fprintf(os.Stderr, "the local agent stopped: %v (the master keeps serving; --no-agent leaves the agent out)\n", err)
	}
}

// fsmNodes lets the pod CIDR allocator read nodes from the leader's state
// and write them through Raft.
type fsmNodes struct{ m *masterProc }

func (f fsmNodes) List() []*corev1.Node {
	var out []*corev1.Node
	for _, o := range f.m.node.FSM().View().List("Node", "") {
		out = append(out, o.(*corev1.Node))
	}
	return out
}

func (f fsmNodes) Update(ctx context.Context, node *corev1.Node) error {
	res, _ := f.m.reg.ByKind("Node")
	rv, err := parseUint(node.ResourceVersion)
	if err != nil {
		return err
	}
	_, err = f.m.store.Update(ctx, res, node, rv)
	return err
}
