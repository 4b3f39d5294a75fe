package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/skiffhq/skiff/agent/containerlog"
	ctrd "github.com/skiffhq/skiff/agent/runtime/containerd"
	"github.com/skiffhq/skiff/daemon"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
)

func newAgentCmd() *cobra.Command {
	var cfg daemon.AgentConfig
	var labels, taints []string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent: it joins the cluster and runs the pods bound to this node",
		Example: `  skiff agent --join 127.0.0.1:6443 --token SKIFF1-... --data-dir /var/lib/skiff-agent --node-name n2
  skiff agent --data-dir /var/lib/skiff-agent          # later starts: the node keeps its certificate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := parseNodeFlags(&cfg, labels, taints); err != nil {
				return err
			}
			cfg.Logger = newLogger(verbose)
			cfg.Out = os.Stdout
			cfg.Version = version
			return daemon.RunAgent(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/skiff-agent", "directory for the node's credentials, pods' files, logs and images/")
	f.StringVar(&cfg.Join, "join", "", "API address (host:port) of a master, the first time")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.43.0.0/16", "the masters' --service-cidr: routed to the service proxy so that no service traffic leaves by the default route")
	f.StringVar(&cfg.Token, "token", "", "worker join token (with --join)")
	addNodeFlags(f, &cfg, &labels, &taints)
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}

// addNodeFlags declares the flags `skiff agent` and `skiff server` share
// for the node agent.
func addNodeFlags(f *pflag.FlagSet, cfg *daemon.AgentConfig, labels, taints *[]string) {
	f.StringVar(&cfg.NodeName, "node-name", "", "the node's name (default: the host name)")
	f.StringVar(&cfg.Address, "agent-addr", "", "IP:port of the agent's endpoint for logs and exec; its IP is the node's address (default 127.0.0.1:10250, for a server its API host)")
	f.StringVar(&cfg.ContainerdAddress, "containerd-address", "", "containerd socket (default: the system's if running, else one the agent starts under --data-dir)")
	f.StringVar(&cfg.Runtime, "runtime", "containerd", "containerd, or fake (scale benchmarks only: nothing runs)")
	f.StringVar(&cfg.RegistryConfig, "registry-config", "", "registries.yaml: mirrors, plain-HTTP registries, credentials")
	f.DurationVar(&cfg.SyncPeriod, "sync-period", 0, "full resync of every pod (default 20s)")
	f.DurationVar(&cfg.UsagePeriod, "usage-period", 0, "how often pods' and the node's CPU and memory use is reported (default 15s)")
	f.DurationVar(&cfg.HeartbeatPeriod, "heartbeat-period", 0, "how often the node posts its status (default 10s; keep it well under the masters' --node-monitor-grace)")
	f.StringArrayVar(labels, "node-label", nil, "node label key=value (repeatable)")
	f.StringArrayVar(taints, "node-taint", nil, "node taint key=value:Effect (repeatable)")
	f.IntVar(&cfg.MaxPods, "max-pods", 110, "the node's pod capacity")
	f.StringVar(&cfg.ProxyMode, "proxy-mode", "auto", "how Services are programmed: auto (IPVS where the kernel has it, else nftables), ipvs, nftables, or none (default none with --runtime fake)")
	f.StringVar(&cfg.ClusterDNS, "cluster-dns", "", "node-local address of the cluster DNS server, the pods' nameserver (default 169.254.20.10; off with --runtime fake); none turns it off")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	f.StringVar(&cfg.StorageDir, "storage-dir", "", "directory of the node's local-path volumes (default <data-dir>/storage; none offers no local-path storage)")
	f.DurationVar(&cfg.DrainDelay, "drain-delay", time.Second, "a deleted pod that left its Services and this node's proxy waits this long more, for other nodes' proxies, before preStop and SIGTERM")
	f.StringArrayVar(&cfg.DNSUpstreams, "dns-upstream", nil, "resolver (host[:port]) for names outside the cluster domain (repeatable; default: the host's /etc/resolv.conf)")
}

func parseNodeFlags(cfg *daemon.AgentConfig, labels, taints []string) error {
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return fmt.Errorf("--node-label %q: want key=value", l)
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		cfg.Labels[k] = v
	}
	for _, t := range taints {
		kv, effect, ok := strings.Cut(t, ":")
		k, v, _ := strings.Cut(kv, "=")
		e := corev1.TaintEffect(effect)
		if !ok || k == "" || (e != corev1.TaintEffectNoSchedule && e != corev1.TaintEffectPreferNoSchedule && e != corev1.TaintEffectNoExecute) {
			return fmt.Errorf("--node-taint %q: want key[=value]:Effect with Effect NoSchedule, PreferNoSchedule or NoExecute", t)
		}
		cfg.Taints = append(cfg.Taints, corev1.Taint{Key: k, Value: v, Effect: e})
	}
	return nil
}

func newLogger(verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// containerLoggerCmd is the verb containerd's shim runs.
const containerLoggerCmd = ctrd.LoggerCommand

// newContainerLoggerCmd is run by containerd's shim, not by people: it
// writes a container's output to its log file (see package containerlog).
func newContainerLoggerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    ctrd.LoggerCommand + " MAXBYTES:FILES:PATH",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			spec, err := containerlog.ParseSpec(args[0])
			if err != nil {
				return err
			}
			return containerlog.RunLogger(spec)
		},
	}
}
