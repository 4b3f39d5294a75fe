package main

import (
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/skiffhq/skiff/daemon"
	"github.com/spf13/cobra"
)

func newServerCmd() *cobra.Command {
	cfg := daemon.ServerConfig{}
	var verbose bool
	var cpuProfile, debugAddr string
	var labels, taints []string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a master: the Raft-replicated store, the API, and (on the leader) the cluster's loops",
		Example: `  skiff server --init --data-dir /tmp/m1 --api-addr 127.0.0.1:6443 --raft-addr 127.0.0.1:6444 --no-agent
  skiff server --data-dir /tmp/m2 --api-addr 127.0.0.1:7443 --raft-addr 127.0.0.1:7444 --join 127.0.0.1:6443 --token SKIFF1-... --no-agent
  skiff server --restore /tmp/backup.snap --data-dir /tmp/new --api-addr 127.0.0.1:6443 --raft-addr 127.0.0.1:6444 --no-agent`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			if err := parseNodeFlags(&cfg.Agent, labels, taints); err != nil {
				return err
			}
			cfg.Out = os.Stdout
			cfg.Version = version
			if debugAddr != "" {
				if err := serveDebug(debugAddr); err != nil {
					return err
				}
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			return daemon.RunServer(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/skiff", "directory for the Raft state, the join token and admin.conf")
	f.StringVar(&cfg.APIAddr, "api-addr", "127.0.0.1:6443", "host:port of the HTTP API (other masters and clients reach it there)")
	f.StringVar(&cfg.RaftAddr, "raft-addr", "127.0.0.1:6444", "host:port of the Raft transport")
	f.BoolVar(&cfg.Init, "init", false, "start a new cluster when --data-dir holds none")
	f.StringVar(&cfg.Join, "join", "", "API address (host:port) of a master of the cluster to join")
	f.StringVar(&cfg.Token, "token", "", "server join token (with --join)")
	f.StringVar(&cfg.Restore, "restore", "", "start a new one-master cluster from a snapshot saved with `skiff snapshot save`")
	f.BoolVar(&cfg.NoAgent, "no-agent", false, "do not run the node agent in this process")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", "10.42.0.0/16", "pod addresses; each node gets a /24 of it")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.43.0.0/16", "Services' cluster IPs (the same on every master)")
	f.StringVar(&cfg.NodePortRange, "service-node-port-range", "30000-32767", "Services' node ports (the same on every master)")
	f.DurationVar(&cfg.NodeMonitorGrace, "node-monitor-grace", 20*time.Second, "a node silent for longer is marked Ready=Unknown and tainted unreachable")
	f.DurationVar(&cfg.PodEvictionTimeout, "pod-eviction-timeout", 30*time.Second, "the pods of a node unreachable or not ready for longer are deleted and replaced elsewhere")
	f.DurationVar(&cfg.MetricsPeriod, "metrics-period", 15*time.Second, "how often the leader scrapes the nodes' CPU and memory usage (skiff top, autoscaling)")
	f.DurationVar(&cfg.HPASyncPeriod, "hpa-sync-period", 15*time.Second, "how often each HorizontalPodAutoscaler is evaluated")
	addNodeFlags(f, &cfg.Agent, &labels, &taints)
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	f.DurationVar(&cfg.CertLifetime, "cert-lifetime", 0, "lifetime of the certificates this master issues (default 90 days; renewed at 2/3)")
	f.StringVar(&cfg.RestoreKeyring, "restore-keyring", "", "with --restore: the old cluster's <data-dir>/keyring.json, so its secrets can be read")
	f.BoolVar(&cfg.Insecure, "insecure-bench-only", false, "plain HTTP and Raft, no authentication: only to measure what security costs")
	_ = f.MarkHidden("insecure-bench-only")
	f.Uint64Var(&cfg.SnapshotThreshold, "snapshot-threshold", 0, "snapshot every N log entries (default 8192)")
	_ = f.MarkHidden("snapshot-threshold")
	f.StringVar(&debugAddr, "debug-addr", "", "serve Go's profiles (/debug/pprof/) on this loopback host:port")
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile to this file until the server stops")
	_ = f.MarkHidden("cpu-profile")
	return cmd
}
