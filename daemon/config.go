package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/raftfsm"
)

// ServerConfig configures `skiff server`.
type ServerConfig struct {
	// DataDir holds the Raft state, server-id, token and admin.conf.
	DataDir string
	// APIAddr is host:port the HTTP API listens on and is reached at.
	APIAddr string
	// RaftAddr is host:port of the Raft transport.
	RaftAddr string
	// Init starts a new cluster when DataDir has no state yet.
	Init bool
	// Join is the API address of any master of the cluster to join.
	Join string
	// Token is the server join token (with Join).
	Token string
	// Restore starts a new one-master cluster from a saved snapshot.
	Restore string
	// RestoreKeyring is the saved cluster's keyring file: without it the
	// restored Secrets cannot be decrypted.
	RestoreKeyring string
	// NoAgent leaves out the local agent.
	NoAgent bool
	// Agent configures the local agent (its DataDir defaults to
	// <DataDir>/agent, its address to the API host on port 10250).
	Agent AgentConfig
	// ClusterCIDR is where nodes' pod CIDRs (/24 each) come from.
	ClusterCIDR string
	// ServiceCIDR is where Services' cluster IPs come from (default
	// 10.43.0.0/16), NodePortRange their node ports (30000-32767). Every
	// master must be given the same.
	ServiceCIDR, NodePortRange string
	// services is both, parsed by check.
	services server.ServiceRanges
	// NodeMonitorGrace: a node whose agent has not posted its status for
	// longer is marked Ready=Unknown and tainted unreachable; zero means
	// 20 s.
	NodeMonitorGrace time.Duration
	// PodEvictionTimeout: the pods of a node unhealthy for longer are
	// deleted, so that their controllers replace them elsewhere; zero
	// means 30 s.
	PodEvictionTimeout time.Duration
	// MetricsPeriod is how often the leader scrapes the nodes' usage;
	// zero means 15 s.
	MetricsPeriod time.Duration
	// HPASyncPeriod is how often each HorizontalPodAutoscaler is
	// evaluated; zero means 15 s.
	HPASyncPeriod time.Duration
	// Timing are the Raft timeouts; zero means the defaults.
	Timing raftfsm.Timing
	// CertLifetime is how long certificates issued by this master live;
	// zero means 90 days. Renewal happens at two thirds of it.
	CertLifetime time.Duration
	// SnapshotThreshold, when set, snapshots every that many entries,
	// keeps as many behind and checks every second (tests of catching up
	// from a snapshot); zero keeps the defaults.
	SnapshotThreshold uint64
	// Insecure serves plain HTTP and plain Raft without authentication,
	// for measuring what security costs; never for a real cluster.
	Insecure bool
	// Version is reported by /version.
	Version string
	// Out receives what a person starting the server should read (the
	// admin config path, the join token). Logs go to Logger.
	Out    io.Writer
	Logger *slog.Logger
}

// check refuses contradictory or missing settings before anything is
// created on disk.
func (c *ServerConfig) check() error {
	if c.DataDir == "" {
		return errors.New("--data-dir is required")
	}
	modes := 0
	for _, on := range []bool{c.Init, c.Join != "", c.Restore != ""} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return errors.New("--init, --join and --restore exclude each other")
	}
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = "10.42.0.0/16"
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = server.DefaultServiceCIDR
	}
	if c.NodePortRange == "" {
		c.NodePortRange = server.DefaultNodePortRange
	}
	svcRanges, err := server.ParseServiceRanges(c.ServiceCIDR, c.NodePortRange)
	if err != nil {
		return fmt.Errorf("--service-cidr / --service-node-port-range: %w", err)
	}
	if pods, err := netip.ParsePrefix(c.ClusterCIDR); err == nil && pods.Overlaps(svcRanges.ClusterIPs) {
		return fmt.Errorf("--service-cidr %s overlaps --cluster-cidr %s: pod and service addresses must differ", c.ServiceCIDR, c.ClusterCIDR)
	}
	c.services = svcRanges
	switch {
	case c.MetricsPeriod == 0:
		c.MetricsPeriod = 15 * time.Second
	case c.MetricsPeriod < time.Second:
		return fmt.Errorf("--metrics-period %s: must be at least 1s", c.MetricsPeriod)
	}
	if c.Join != "" && c.Token == "" {
		return errors.New("--join needs --token (printed by the first master, and kept in its <data-dir>/token)")
	}
	for flag, addr := range map[string]string{"--api-addr": c.APIAddr, "--raft-addr": c.RaftAddr} {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || port == "" {
			return fmt.Errorf("%s %q: must be host:port", flag, addr)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return fmt.Errorf("%s %q: give the address other masters reach this one at, not a wildcard", flag, addr)
		}
	}
	return nil
}
