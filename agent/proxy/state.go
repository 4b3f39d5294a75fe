package proxy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// State is what the kernel should do: every Service port, sorted by Key.
type State struct {
	Services []ServicePort
}

// ServicePort is one port of one Service with a cluster IP.
type ServicePort struct {
	// Key is "namespace/name:port" (port is the port's name, or its
	// number when unnamed): stable, and unique in a State.
	Key       string
	ClusterIP netip.Addr
	Port      uint16
	Protocol  corev1.Protocol
	// NodePort is 0 unless the Service is of type NodePort (or
	// LoadBalancer).
	NodePort uint16
	// Affinity is the ClientIP affinity timeout; 0 means none.
	Affinity time.Duration
	// Endpoints are the ready endpoints, sorted; empty means connections
	// are refused.
	Endpoints []Endpoint
}

// Endpoint is one ready pod address of a Service port.
type Endpoint struct {
	IP   netip.Addr
	Port uint16
}

func (e Endpoint) String() string { return netip.AddrPortFrom(e.IP, e.Port).String() }

// Build computes the State of services given their Endpoints (by
// "namespace/name"). Headless and ExternalName Services, and ports of
// protocols the backends do not balance (SCTP), are left out; only IPv4
// addresses are programmed.
func Build(services []*corev1.Service, endpoints map[string]*corev1.Endpoints) State {
	var st State
	for _, svc := range services {
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !ip.Is4() || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		var affinity time.Duration
		if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			affinity = 3 * time.Hour
			if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
				affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
			}
		}
		ep := endpoints[svc.Namespace+"/"+svc.Name]
		for _, p := range svc.Spec.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			if proto != corev1.ProtocolTCP && proto != corev1.ProtocolUDP {
				continue
			}
			name := p.Name
			if name == "" {
				name = fmt.Sprint(p.Port)
			}
			sp := ServicePort{
				Key: svc.Namespace + "/" + svc.Name + ":" + name, ClusterIP: ip,
				Port: uint16(p.Port), Protocol: proto, Affinity: affinity,
				Endpoints: readyEndpoints(ep, p.Name, proto),
			}
			if svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
				sp.NodePort = uint16(p.NodePort)
			}
			st.Services = append(st.Services, sp)
		}
	}
	slices.SortFunc(st.Services, func(a, b ServicePort) int { return cmp.Compare(a.Key, b.Key) })
	return st
}

// readyEndpoints are the ready addresses of ep for the Service port named
// name, with the port each resolved to.
func readyEndpoints(ep *corev1.Endpoints, name string, proto corev1.Protocol) []Endpoint {
	if ep == nil {
		return nil
	}
	var out []Endpoint
	for _, ss := range ep.Subsets {
		for _, p := range ss.Ports {
			pp := p.Protocol
			if pp == "" {
				pp = corev1.ProtocolTCP
			}
			if p.Name != name || pp != proto {
				continue
			}
			for _, a := range ss.Addresses {
				if ip, err := netip.ParseAddr(a.IP); err == nil && ip.Is4() {
					out = append(out, Endpoint{IP: ip, Port: uint16(p.Port)})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	return slices.Compact(out)
}
