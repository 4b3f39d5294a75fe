package dnsproxy

import (
	"net"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// PTR priorities: several objects can claim the same address (a ClusterIP
// reused while an old service is being deleted, a pod that is also a
// headless endpoint, host-network pods sharing the node's address). The
// reverse name answers with the best claim only, in this order.
const (
	prioClusterIP uint8 = iota // <svc>.<ns>.svc.<domain>
	prioHostname               // <hostname>.<svc>.<ns>.svc.<domain>
	prioPod                    // <a-b-c-d>.<ns>.pod.<domain>
	// prioNone marks nodes that are not reverse names. Every owner that
	// contributes such a name builds it identically (the same empty
	// non-terminal, the same pod address), so which one wins is moot.
	prioNone
)

// fragment is one owner's version of the node at one name.
type fragment struct {
	prio uint8
	node *node
}

// srvTarget is the variable part of an SRV record; priority and weight are
// always 0 and 100, as in Kubernetes DNS.
type srvTarget struct {
	port   uint16
	target string
}

// nodeBuilder collects one name's data while an owner's records are built.
type nodeBuilder struct {
	addrs []netip.Addr
	cname string
	srvs  []srvTarget
	ptr   string
	prio  uint8
	ns    string
	apex  bool
}

func (b *nodeBuilder) addAddr(ip netip.Addr) {
	if !slices.Contains(b.addrs, ip) {
		b.addrs = append(b.addrs, ip)
	}
}

// addSRV keeps records unique: the same port number under two port names
// (a DNS service's "dns" UDP and "dns-tcp" TCP on 53) would otherwise put
// duplicate records in the service-wide SRV set.
func (b *nodeBuilder) addSRV(t srvTarget) {
	if !slices.Contains(b.srvs, t) {
		b.srvs = append(b.srvs, t)
	}
}

func (b *nodeBuilder) setPTR(target string, prio uint8) {
	if b.ptr == "" || prio < b.prio {
		b.ptr, b.prio = target, prio
	}
}

// zoneBuilder builds all names of one owner (a service with its endpoints,
// a pod, or the static names of the zone).
type zoneBuilder struct {
	domain string
	ttl    uint32
	nodes  map[string]*nodeBuilder
}

func newZoneBuilder(domain string, ttl uint32) *zoneBuilder {
	return &zoneBuilder{domain: domain, ttl: ttl, nodes: make(map[string]*nodeBuilder)}
}

// at returns the builder of name, creating the name (with no data yet).
func (z *zoneBuilder) at(name string) *nodeBuilder {
	b, ok := z.nodes[name]
	if !ok {
		b = &nodeBuilder{prio: prioNone}
		z.nodes[name] = b
	}
	return b
}

// addStatic adds the names that exist whatever the cluster holds: the apex
// with its NS record, and the "svc" and "pod" subtrees.
func (z *zoneBuilder) addStatic() {
	apex := z.at(z.domain)
	apex.apex = true
	apex.ns = "ns.dns." + z.domain
	z.at("svc." + z.domain)
	z.at("pod." + z.domain)
}

// addService adds a service's names; ep may be nil.
func (z *zoneBuilder) addService(key objKey, svc *serviceInfo, ep *endpointsInfo) {
	base := serviceName(key.namespace, key.name, z.domain)
	z.at(key.namespace + ".svc." + z.domain) // the namespace is an empty non-terminal
	owner := z.at(base)
	switch svc.kind {
	case kindExternalName:
		owner.cname = svc.externalName
	case kindClusterIP:
		for _, ip := range svc.clusterIPs {
			owner.addAddr(ip)
			z.at(reverseName(ip)).setPTR(base, prioClusterIP)
		}
		for _, p := range svc.ports {
			z.addSRV(owner, base, p, srvTarget{port: p.port, target: base})
		}
	case kindHeadless:
		// The SRV names of the service's ports exist before any endpoint
		// is ready, so they answer NODATA like the service name does.
		for _, p := range svc.ports {
			z.at("_" + p.proto + "." + base)
			z.at(srvName(p.name, p.proto, base))
		}
		if ep == nil {
			return
		}
		for _, sub := range ep.subsets {
			for _, a := range sub.addresses {
				label := a.hostname
				if label == "" {
					label = dashedIP(a.ip)
				}
				target := label + "." + base
				z.at(target).addAddr(a.ip)
				owner.addAddr(a.ip)
				if a.hostname != "" {
					z.at(reverseName(a.ip)).setPTR(target, prioHostname)
				}
				for _, p := range sub.ports {
					z.addSRV(owner, base, p, srvTarget{port: p.port, target: target})
				}
			}
		}
	}
}

// addSRV adds one SRV record under its port's name and under the service
// name itself, which answers plain SRV queries with every named port.
func (z *zoneBuilder) addSRV(owner *nodeBuilder, base string, p portInfo, t srvTarget) {
	z.at("_" + p.proto + "." + base) // "_tcp.<svc>..." is an empty non-terminal
	z.at(srvName(p.name, p.proto, base)).addSRV(t)
	owner.addSRV(t)
}

// addPod adds a pod's A/AAAA names and its reverse names.
func (z *zoneBuilder) addPod(key objKey, pod *podInfo) {
	z.at(key.namespace + ".pod." + z.domain)
	for _, ip := range pod.ips {
		name := podName(ip, key.namespace, z.domain)
		z.at(name).addAddr(ip)
		z.at(reverseName(ip)).setPTR(name, prioPod)
	}
}

// fragments turns the collected data into immutable nodes.
func (z *zoneBuilder) fragments() map[string]fragment {
	// Sorted addresses make equal inputs build equal nodes, which is what
	// lets the table skip updates that change nothing.
	for _, b := range z.nodes {
		slices.SortFunc(b.addrs, netip.Addr.Compare)
	}
	out := make(map[string]fragment, len(z.nodes))
	for name, b := range z.nodes {
		out[name] = fragment{prio: b.prio, node: z.build(name, b)}
	}
	return out
}

func (z *zoneBuilder) build(name string, b *nodeBuilder) *node {
	n := &node{apex: b.apex}
	for _, ip := range b.addrs {
		if ip.Is4() {
			n.a.answer = append(n.a.answer, z.addrRR(name, ip))
		} else {
			n.aaaa.answer = append(n.aaaa.answer, z.addrRR(name, ip))
		}
	}
	if b.cname != "" {
		n.cname.answer = []dns.RR{&dns.CNAME{Hdr: z.header(name, dns.TypeCNAME), Target: b.cname}}
	}
	var glued []string
	for _, s := range b.srvs {
		n.srv.answer = append(n.srv.answer, &dns.SRV{
			Hdr:      z.header(name, dns.TypeSRV),
			Priority: 0,
			Weight:   100,
			Port:     s.port,
			Target:   s.target,
		})
		// Glue: the target's addresses, so clients need no second query.
		// Targets always belong to the same owner, so they are in z.
		if slices.Contains(glued, s.target) {
			continue
		}
		glued = append(glued, s.target)
		if t, ok := z.nodes[s.target]; ok {
			for _, ip := range t.addrs {
				n.srv.extra = append(n.srv.extra, z.addrRR(s.target, ip))
			}
		}
	}
	if b.ptr != "" {
		n.ptr.answer = []dns.RR{&dns.PTR{Hdr: z.header(name, dns.TypePTR), Ptr: b.ptr}}
	}
	if b.ns != "" {
		n.ns.answer = []dns.RR{&dns.NS{Hdr: z.header(name, dns.TypeNS), Ns: b.ns}}
	}
	if len(n.cname.answer) > 0 {
		n.any = n.cname
	} else {
		n.any.answer = slices.Concat(n.a.answer, n.aaaa.answer, n.srv.answer, n.ptr.answer, n.ns.answer)
		n.any.extra = n.srv.extra
	}
	return n
}

func (z *zoneBuilder) header(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: z.ttl}
}

func (z *zoneBuilder) addrRR(name string, ip netip.Addr) dns.RR {
	if ip.Is4() {
		return &dns.A{Hdr: z.header(name, dns.TypeA), A: net.IP(ip.AsSlice())}
	}
	return &dns.AAAA{Hdr: z.header(name, dns.TypeAAAA), AAAA: net.IP(ip.AsSlice())}
}

// newSOA builds the zone's SOA record set. Its minimum field (the negative
// caching TTL, RFC 2308) equals the records' TTL: a name that appears should
// become visible as fast as a changed one.
func newSOA(domain string, serial, ttl uint32) []dns.RR {
	return []dns.RR{&dns.SOA{
		Hdr:     dns.RR_Header{Name: domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      "ns.dns." + domain,
		Mbox:    "hostmaster." + domain,
		Serial:  serial,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  ttl,
	}}
}
