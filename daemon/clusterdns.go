package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/skiffhq/skiff/agent/proxy"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/dnsproxy"
	corev1 "k8s.io/api/core/v1"
)

// DefaultClusterDNS is the node-local address of the cluster DNS server
// (--cluster-dns), the one NodeLocal DNSCache uses in Kubernetes: link-local,
// so it never leaves the node.
const DefaultClusterDNS = "169.254.20.10"

// serviceWatches are the agent's watches of every Service and Endpoints,
// shared by the service proxy and the cluster DNS.
type serviceWatches struct {
	services, endpoints *client.Informer
}

func newServiceWatches(api *client.Client, log *slog.Logger) *serviceWatches {
	return &serviceWatches{
		services:  client.NewInformer(api, resourceOf(api, "Service"), client.ListOptions{}, log),
		endpoints: client.NewInformer(api, resourceOf(api, "Endpoints"), client.ListOptions{}, log),
	}
}

func (w *serviceWatches) run(ctx context.Context) {
	go w.services.Run(ctx)
	go w.endpoints.Run(ctx)
}

// afterSync calls fn once every informer has listed.
func afterSync(ctx context.Context, fn func(), infs ...*client.Informer) {
	go func() {
		for _, inf := range infs {
			select {
			case <-inf.Synced():
			case <-ctx.Done():
				return
			}
		}
		fn()
	}()
}

// startClusterDNS serves the cluster domain at cfg.ClusterDNS:53 (an
// address put on the proxy's sink device) from a table fed by the watches
// of Services, Endpoints and every pod, forwarding the rest upstream.
func startClusterDNS(ctx context.Context, cfg AgentConfig, api *client.Client, w *serviceWatches, log *slog.Logger) error {
	ip, err := netip.ParseAddr(cfg.ClusterDNS)
	if err != nil || !ip.Is4() {
		return fmt.Errorf("--cluster-dns %q: want an IPv4 address", cfg.ClusterDNS)
	}
	if err := proxy.AddLocalAddress(ip); err != nil {
		return err
	}
	upstreams := cfg.DNSUpstreams
	if len(upstreams) == 0 {
		found, err := dnsproxy.UpstreamsFromResolvConf("/etc/resolv.conf")
		if err != nil {
			log.Warn("no upstream resolvers: names outside the cluster domain will be refused", "err", err)
		}
		upstreams = dnsproxy.WithoutResolvedStub(found)
	}
	table := dnsproxy.NewTable(cfg.ClusterDomain)
	w.services.AddHandler(client.Handler{
		OnAdd:    func(o apis.Object) { table.SetService(o.(*corev1.Service)) },
		OnUpdate: func(_, o apis.Object) { table.SetService(o.(*corev1.Service)) },
		OnDelete: func(o apis.Object) { table.DeleteService(o.GetNamespace(), o.GetName()) },
	})
	w.endpoints.AddHandler(client.Handler{
		OnAdd:    func(o apis.Object) { table.SetEndpoints(o.(*corev1.Endpoints)) },
		OnUpdate: func(_, o apis.Object) { table.SetEndpoints(o.(*corev1.Endpoints)) },
		OnDelete: func(o apis.Object) { table.DeleteEndpoints(o.GetNamespace(), o.GetName()) },
	})
	pods := client.NewInformer(api, resourceOf(api, "Pod"), client.ListOptions{}, log)
	pods.AddHandler(client.Handler{
		OnAdd:    func(o apis.Object) { table.SetPod(o.(*corev1.Pod)) },
		OnUpdate: func(_, o apis.Object) { table.SetPod(o.(*corev1.Pod)) },
		OnDelete: func(o apis.Object) { table.DeletePod(o.GetNamespace(), o.GetName()) },
	})
	go pods.Run(ctx)
	afterSync(ctx, table.MarkSynced, w.services, w.endpoints, pods)
	srv, err := dnsproxy.NewServer(dnsproxy.Config{Addr: net.JoinHostPort(ip.String(), "53"), Domain: cfg.ClusterDomain,
		Upstreams: upstreams, Table: table, Logger: log})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("cluster DNS on %s: %w", srv.Addr(), err)
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("cluster DNS upstreams", "upstreams", upstreams)
	return nil
}
