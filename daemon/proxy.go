package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/skiffhq/skiff/agent/proxy"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	corev1 "k8s.io/api/core/v1"
)

// Proxy modes (--proxy-mode).
const (
	ProxyAuto     = "auto"
	ProxyNFTables = "nftables"
	ProxyNone     = "none"
)

// proxyTable names the nftables table of the service proxy. Agents
// sharing a host program the same cluster state into it; a test names
// its own with SKIFF_PROXY_TABLE, to find and remove it.
func proxyTable() string {
	if v := os.Getenv("SKIFF_PROXY_TABLE"); v != "" {
		return v
	}
	return "skiff-proxy"
}

// startProxy routes the service CIDR to the sink device and starts the
// service proxy: watches of every Service and Endpoints feed it, and it
// programs the kernel once both have listed.
func startProxy(ctx context.Context, cfg AgentConfig, api *client.Client, log *slog.Logger) error {
	cidr, err := netip.ParsePrefix(cfg.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("--service-cidr %q: %w", cfg.ServiceCIDR, err)
	}
	if err := proxy.RouteServiceCIDR(cidr.Masked()); err != nil {
		return err
	}
	// Auto: nftables, the one backend for kernels without IPVS (this
	// one's); IPVS is picked where the kernel has it once that backend is
	// in.
	backend := &proxy.NFTables{Table: proxyTable()}
	p := proxy.New(proxy.Config{Backend: backend, Logger: log})
	svcs := client.NewInformer(api, resourceOf(api, "Service"), client.ListOptions{}, log)
	svcs.AddHandler(client.Handler{
		OnAdd:    func(o apis.Object) { p.SetService(o.(*corev1.Service)) },
		OnUpdate: func(_, o apis.Object) { p.SetService(o.(*corev1.Service)) },
		OnDelete: func(o apis.Object) { p.DeleteService(o.GetNamespace(), o.GetName()) },
	})
	eps := client.NewInformer(api, resourceOf(api, "Endpoints"), client.ListOptions{}, log)
	eps.AddHandler(client.Handler{
		OnAdd:    func(o apis.Object) { p.SetEndpoints(o.(*corev1.Endpoints)) },
		OnUpdate: func(_, o apis.Object) { p.SetEndpoints(o.(*corev1.Endpoints)) },
		OnDelete: func(o apis.Object) { p.DeleteEndpoints(o.GetNamespace(), o.GetName()) },
	})
	go svcs.Run(ctx)
	go eps.Run(ctx)
	go func() {
		for _, inf := range []*client.Informer{svcs, eps} {
			select {
			case <-inf.Synced():
			case <-ctx.Done():
				return
			}
		}
		p.MarkSynced()
	}()
	go p.Run(ctx)
	log.Info("service proxy started", "backend", backend.Name(), "table", backend.Table, "service-cidr", cidr)
	return nil
}
