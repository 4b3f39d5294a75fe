package dnsproxy

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// The table keeps only what DNS needs from each object. Informer objects
// are large and shared with the rest of the agent; copying out a few fields
// lets the table compare old and new cheaply (a resync that changes nothing
// DNS-relevant costs no rebuild and no serial bump) and never holds on to,
// or races with, the informer's copy.

// objKey names a namespaced object.
type objKey struct {
	namespace, name string
}

type serviceKind uint8

const (
	kindClusterIP    serviceKind = iota // one virtual IP per family
	kindHeadless                        // clusterIP "None": the ready endpoints themselves
	kindExternalName                    // a CNAME to spec.externalName
)

// portInfo is a named port: the "_<name>._<proto>" part of an SRV name.
type portInfo struct {
	name  string // lower case, a valid DNS label
	proto string // "tcp", "udp" or "sctp"
	port  uint16
}

type serviceInfo struct {
	kind         serviceKind
	clusterIPs   []netip.Addr // kindClusterIP only; may be empty while unallocated
	externalName string       // kindExternalName only; fully qualified, or "" when invalid
	ports        []portInfo   // the named service ports
}

type addressInfo struct {
	ip       netip.Addr
	hostname string // a valid DNS label, or "" when unset or unusable
}

type subsetInfo struct {
	addresses []addressInfo // ready addresses only: not-ready ones are never published
	ports     []portInfo    // the named endpoint ports
}

type endpointsInfo struct {
	subsets []subsetInfo
}

type podInfo struct {
	ips []netip.Addr
}

func newServiceInfo(svc *corev1.Service) *serviceInfo {
	info := &serviceInfo{ports: namedServicePorts(svc.Spec.Ports)}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		info.kind = kindExternalName
		info.externalName = externalTarget(svc.Spec.ExternalName)
		// Ports of an ExternalName service describe nothing this server
		// could point an SRV record at.
		info.ports = nil
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		info.kind = kindHeadless
	default:
		info.kind = kindClusterIP
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			// Objects written before dual-stack only carry the singular field.
			ips = []string{svc.Spec.ClusterIP}
		}
		for _, s := range ips {
			if addr, err := netip.ParseAddr(s); err == nil && !slices.Contains(info.clusterIPs, addr.Unmap()) {
				info.clusterIPs = append(info.clusterIPs, addr.Unmap())
			}
		}
	}
	return info
}

// externalTarget makes spec.externalName a CNAME target, or "" when it is
// not a domain name (the service then exists but has no records).
func externalTarget(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return ""
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(name, ".")) + "."
}

func namedServicePorts(ports []corev1.ServicePort) []portInfo {
	var out []portInfo
	for _, p := range ports {
		if pi, ok := newPortInfo(p.Name, p.Protocol, p.Port); ok {
			out = append(out, pi)
		}
	}
	return out
}

func newPortInfo(name string, protocol corev1.Protocol, port int32) (portInfo, bool) {
	name = strings.ToLower(name)
	if !isDNSLabel(name) || port <= 0 || port > 65535 {
		return portInfo{}, false
	}
	proto := strings.ToLower(string(protocol))
	if proto == "" {
		proto = "tcp" // the API default, for objects that skipped defaulting
	}
	if !isDNSLabel(proto) {
		return portInfo{}, false
	}
	return portInfo{name: name, proto: proto, port: uint16(port)}, true
}

func newEndpointsInfo(ep *corev1.Endpoints) *endpointsInfo {
	info := &endpointsInfo{}
	for _, ss := range ep.Subsets {
		var sub subsetInfo
		for _, a := range ss.Addresses {
			addr, err := netip.ParseAddr(a.IP)
			if err != nil {
				continue
			}
			hostname := strings.ToLower(a.Hostname)
			if !isDNSLabel(hostname) {
				hostname = ""
			}
			sub.addresses = append(sub.addresses, addressInfo{ip: addr.Unmap(), hostname: hostname})
		}
		for _, p := range ss.Ports {
			if pi, ok := newPortInfo(p.Name, p.Protocol, p.Port); ok {
				sub.ports = append(sub.ports, pi)
			}
		}
		if len(sub.addresses) > 0 {
			info.subsets = append(info.subsets, sub)
		}
	}
	return info
}

// newPodInfo returns nil when the pod has no address DNS may publish: none
// assigned yet, or the pod has finished and its address may already belong
// to another pod.
func newPodInfo(pod *corev1.Pod) *podInfo {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	var ips []netip.Addr
	add := func(s string) {
		if addr, err := netip.ParseAddr(s); err == nil && !slices.Contains(ips, addr.Unmap()) {
			ips = append(ips, addr.Unmap())
		}
	}
	add(pod.Status.PodIP)
	for _, ip := range pod.Status.PodIPs {
		add(ip.IP)
	}
	if len(ips) == 0 {
		return nil
	}
	return &podInfo{ips: ips}
}
