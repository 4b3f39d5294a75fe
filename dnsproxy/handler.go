package dnsproxy

import (
	"net"

	"github.com/miekg/dns"
)

// ServeDNS answers one query; Server implements dns.Handler. The listeners
// call it, and it is exported so that it can be driven directly (benchmarks,
// embedding in another dns.ServeMux).
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	gen := s.table.gen.Load() // before the table is read
	resp := new(dns.Msg)
	resp.Id = req.Id
	resp.Response = true
	resp.Opcode = req.Opcode
	resp.RecursionDesired = req.RecursionDesired
	resp.CheckingDisabled = req.CheckingDisabled
	reqOpt := req.IsEdns0()

	// acceptQuery already filters these for the listeners; checking again
	// keeps ServeDNS safe when it is called some other way.
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1:
		resp.Rcode = dns.RcodeFormatError
	case reqOpt != nil && reqOpt.Version() != 0:
		resp.Question = req.Question
		resp.Rcode = dns.RcodeBadVers // RFC 6891 6.1.3
	default:
		// The question slice is shared, not copied: req is ours until
		// we return and nobody modifies it.
		resp.Question = req.Question
		fromTable := s.answer(resp, req, reqOpt)
		s.write(w, resp, reqOpt)
		if _, udp := w.RemoteAddr().(*net.UDPAddr); fromTable && udp && reqOpt == nil && s.fast != nil {
			s.fast.store(req, resp, gen)
		}
		return
	}
	s.write(w, resp, reqOpt)
}

// answer fills resp for a well-formed one-question query. fromTable is
// true when the answer came from the synced table alone (the same query
// gets the same answer until the table changes).
func (s *Server) answer(resp, req *dns.Msg, reqOpt *dns.OPT) (fromTable bool) {
	q := &req.Question[0]
	lname := lowerName(q.Name)
	switch {
	case hasLabelSuffix(lname, s.domain):
		s.answerCluster(resp, q, lname)
		return resp.Rcode != dns.RcodeServerFailure
	case q.Qtype == dns.TypePTR && q.Qclass == dns.ClassINET && isReverseName(lname) && s.answerReverse(resp, q, lname):
	case s.fwd != nil:
		do := reqOpt != nil && reqOpt.Do()
		s.fwd.serve(resp, q, lname, do, do || req.AuthenticatedData)
	default:
		// Not ours and nowhere to send it.
		resp.Rcode = dns.RcodeRefused
	}
	return false
}

// answerCluster answers a name inside the cluster domain.
func (s *Server) answerCluster(resp *dns.Msg, q *dns.Question, lname string) {
	resp.RecursionAvailable = s.fwd != nil
	if !s.table.Synced() {
		// The table may still lack names that exist; an NXDOMAIN now
		// would be cached by clients as the truth.
		resp.Rcode = dns.RcodeServerFailure
		return
	}
	if q.Qclass != dns.ClassINET {
		resp.Rcode = dns.RcodeRefused // the zone has no data in other classes
		return
	}
	resp.Authoritative = true
	n, soa := s.table.lookup(lname)
	if n == nil {
		resp.Rcode = dns.RcodeNameError
		resp.Ns = soa // lets resolvers cache the denial (RFC 2308)
		return
	}
	set := n.lookup(q.Qtype, soa)
	if len(set.answer) == 0 {
		resp.Ns = soa // NODATA: the name exists, the type does not
		return
	}
	resp.Answer = ownedBy(set.answer, q.Name, lname)
	resp.Extra = set.extra
}

// answerReverse answers a PTR query for an address the table knows. It
// returns false to let the query go upstream: the address may be a host's.
func (s *Server) answerReverse(resp *dns.Msg, q *dns.Question, lname string) bool {
	n, _ := s.table.lookup(lname)
	if n == nil || len(n.ptr.answer) == 0 {
		if s.fwd != nil {
			return false
		}
		resp.Rcode = dns.RcodeNameError
		return true
	}
	resp.Authoritative = true
	resp.RecursionAvailable = s.fwd != nil
	resp.Answer = ownedBy(n.ptr.answer, q.Name, lname)
	return true
}

// ownedBy returns the answer records with the question's spelling of the
// owner name, as CoreDNS does: some stub resolvers compare names byte for
// byte, and DNS 0x20 clients rely on the echo. The shared records are
// returned as they are in the common case of a lower-case question; only a
// mixed-case question pays for copies.
func ownedBy(rrs []dns.RR, qname, lname string) []dns.RR {
	if qname == lname {
		return rrs
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = qname
		out[i] = c
	}
	return out
}

// write adds EDNS0 to the response when the query had it, fits the response
// into a UDP client's buffer, and sends it.
func (s *Server) write(w dns.ResponseWriter, resp *dns.Msg, reqOpt *dns.OPT) {
	size := dns.MinMsgSize
	if reqOpt != nil {
		if n := int(reqOpt.UDPSize()); n > size {
			size = n
		}
		// resp.Extra may be a shared precomputed slice: never append
		// to it in place. The OPT is fresh for every response because
		// packing writes the extended rcode into it.
		extra := make([]dns.RR, len(resp.Extra), len(resp.Extra)+1)
		copy(extra, resp.Extra)
		resp.Extra = append(extra, newOPT(reqOpt.Do()))
	}
	resp.Compress = true
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		// Truncate leaves a response that fits alone (and then skips
		// compression, which it does not need); otherwise it drops
		// records until it fits and sets TC so the client retries over
		// TCP, where nothing is ever truncated.
		resp.Truncate(size)
	}
	// A failed write means the client is gone; there is nobody to tell.
	_ = w.WriteMsg(resp)
}

// newOPT is this server's EDNS0 record, echoing the client's DO bit.
func newOPT(do bool) *dns.OPT {
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: advertisedUDPSize}}
	if do {
		opt.SetDo()
	}
	return opt
}
