package dnsproxy

import "github.com/miekg/dns"

// rrset is one ready-made answer: the answer section and the additional
// section that goes with it (the addresses of SRV targets).
//
// The records are shared by every response that uses them and must never be
// modified once built; miekg/dns only reads records when packing, and the
// handler copies a record before changing its owner name.
type rrset struct {
	answer []dns.RR
	extra  []dns.RR
}

// node is everything one owner name answers. A node with no records is an
// existing name without data of any type: an empty non-terminal such as
// "<ns>.svc.<domain>", or a headless service with no ready endpoint. It
// answers NODATA, where a name without a node answers NXDOMAIN.
//
// Owner names inside the records are lower case; the handler rewrites them
// only when the question was asked in another case.
type node struct {
	a, aaaa, cname, srv, ptr, ns, any rrset
	// apex marks the zone apex, whose SOA is not stored here: its serial
	// moves with every change, and rebuilding the apex node for that would
	// be wasted work. lookup takes the current SOA from the table instead.
	apex bool
}

// lookup returns the answer to a query of qtype at this node; an empty
// answer means NODATA. soa is the table's current SOA record set.
func (n *node) lookup(qtype uint16, soa []dns.RR) rrset {
	// A CNAME owns its name for every type (RFC 1034 3.6.2). The target is
	// deliberately not chased: it is outside the cluster, and the client's
	// own resolver follows it.
	if len(n.cname.answer) > 0 {
		return n.cname
	}
	switch qtype {
	case dns.TypeA:
		return n.a
	case dns.TypeAAAA:
		return n.aaaa
	case dns.TypeSRV:
		return n.srv
	case dns.TypePTR:
		return n.ptr
	case dns.TypeNS:
		return n.ns
	case dns.TypeSOA:
		if n.apex {
			return rrset{answer: soa}
		}
	case dns.TypeANY:
		if n.apex {
			// Rare enough that allocating here beats storing a copy
			// that would go stale with every serial.
			answer := make([]dns.RR, 0, len(n.any.answer)+len(soa))
			return rrset{answer: append(append(answer, soa...), n.any.answer...)}
		}
		return n.any
	}
	return rrset{}
}
