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
	ProxyAuto     = "auto" // IPVS where the kernel has it, else nftables
	ProxyIPVS     = "ipvs"
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
// service proxy: the watches of every Service and Endpoints feed it, and it
// programs the kernel once both have listed.
func startProxy(ctx context.Context, cfg AgentConfig, w *serviceWatches, log *slog.Logger) (*proxy.Proxier, error) {
	cidr, err := netip.ParsePrefix(cfg.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("--service-cidr %q: %w", cfg.ServiceCIDR, err)
	}
	if err := proxy.RouteServiceCIDR(cidr.Masked()); err != nil {
		return nil, err
	}
	var backend proxy.Backend
	switch cfg.ProxyMode {
	case ProxyIPVS, ProxyAuto:
		b, err := proxy.NewIPVS(cidr.Masked())
		if err == nil {
			backend = b
			break
		}
		if cfg.ProxyMode == ProxyIPVS {
			return nil, fmt.Errorf("--proxy-mode ipvs: the kernel has no IPVS (modprobe ip_vs?): %w", err)
		}
		log.Info("no IPVS in this kernel: the service proxy uses nftables", "err", err)
	}
	if backend == nil {
		backend = &proxy.NFTables{Table: proxyTable()}
	}
	p := proxy.New(proxy.Config{Backend: backend, Logger: log})
	w.services.AddHandler(client.Handler{
		OnAdd:    func(o apis.Object) { p.SetService(o.(*corev1.Service)) },
		OnUpdate: func(_, o apis.Object) { p.SetService(o.(*corev1.Service)) },
		OnDelete: func(o apis.Object) { p.DeleteService(o.GetNamespace(), o.GetName()) },
	})
	w.endpoints.AddHandler(client.Handler{
		OnAdd:    func(o apis.Object) { p.SetEndpoints(o.(*corev1.Endpoints)) },
		OnUpdate: func(_, o apis.Object) { p.SetEndpoints(o.(*corev1.Endpoints)) },
		OnDelete: func(o apis.Object) { p.DeleteEndpoints(o.GetNamespace(), o.GetName()) },
	})
	afterSync(ctx, p.MarkSynced, w.services, w.endpoints)
	go p.Run(ctx)
	log.Info("service proxy started", "backend", backend.Name(), "service-cidr", cidr)
	return p, nil
}
