package dnsproxy

import (
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

const (
	// upstreamTimeout bounds one try at one upstream (dial, write and read).
	upstreamTimeout = 2 * time.Second
	// maxConcurrentForwards bounds the queries waiting on upstreams. Each
	// holds a goroutine for up to upstreamTimeout per upstream; when the
	// upstreams are down and clients keep asking, the excess is answered
	// SERVFAIL at once instead of piling up goroutines in the agent.
	maxConcurrentForwards = 1000
)

// forwarder sends queries for names outside the cluster to the node's
// resolvers and caches their answers.
type forwarder struct {
	upstreams []string
	udp, tcp  *dns.Client // stateless between exchanges, so shared by all queries
	cache     *cache      // nil when caching is disabled
	slots     chan struct{}
}

func newForwarder(upstreams []string, cacheSize int) *forwarder {
	return &forwarder{
		upstreams: upstreams,
		udp:       &dns.Client{Net: "udp", Timeout: upstreamTimeout, UDPSize: advertisedUDPSize},
		tcp:       &dns.Client{Net: "tcp", Timeout: upstreamTimeout},
		cache:     newCache(cacheSize),
		slots:     make(chan struct{}, maxConcurrentForwards),
	}
}

// serve fills resp with the upstream answer to q, from the cache when it
// can. do is the client's DO bit (part of the cache key: DNSSEC records
// are only in answers to DO queries); adOK says whether the client may be
// shown the AD bit (RFC 6840 5.7).
func (f *forwarder) serve(resp *dns.Msg, q *dns.Question, lname string, do, adOK bool) {
	resp.RecursionAvailable = true
	key := cacheKey{name: lname, qtype: q.Qtype, qclass: q.Qclass, do: do}
	r := f.cache.get(key)
	if r != nil {
		// The entry may come from a query spelt differently.
		matchOwnerCase(r.Answer, q.Name)
	} else {
		select {
		case f.slots <- struct{}{}:
			r = f.exchange(q, do)
			<-f.slots
		default:
			// Over the limit: r stays nil and the client gets SERVFAIL.
		}
		if r == nil {
			resp.Rcode = dns.RcodeServerFailure
			return
		}
		f.cache.put(key, r)
	}
	// r's records may now be shared with the cache; responses only read
	// them, and Truncate only reslices.
	resp.Rcode = r.Rcode
	resp.Authoritative = r.Authoritative
	resp.AuthenticatedData = r.AuthenticatedData && adOK
	resp.Answer, resp.Ns, resp.Extra = r.Answer, r.Ns, r.Extra
}

// exchange asks each upstream in turn and returns the first usable answer
// with its OPT record removed (the client gets this server's own), or nil
// when every upstream failed.
func (f *forwarder) exchange(q *dns.Question, do bool) *dns.Msg {
	m := new(dns.Msg)
	m.RecursionDesired = true
	m.Question = []dns.Question{*q} // the client's spelling, for 0x20-aware upstreams
	// EDNS0 even for clients without it: a larger answer over UDP saves a
	// TCP retry, and write() fits it to the client's buffer anyway.
	m.SetEdns0(advertisedUDPSize, do)
	for _, up := range f.upstreams {
		m.Id = dns.Id() // a fresh, unpredictable ID per try
		r, _, err := f.udp.Exchange(m, up)
		if err == nil && r.Truncated {
			r, _, err = f.tcp.Exchange(m, up)
		}
		if err != nil || !usable(r, q) {
			continue
		}
		r.Extra = slices.DeleteFunc(r.Extra, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeOPT })
		return r
	}
	return nil
}

// matchOwnerCase gives records owned by qname (compared without case) the
// question's spelling, as a fresh upstream answer would have. rrs must be
// private to the caller.
func matchOwnerCase(rrs []dns.RR, qname string) {
	for _, rr := range rrs {
		h := rr.Header()
		if h.Name != qname && strings.EqualFold(h.Name, qname) {
			h.Name = qname
		}
	}
}

// usable reports whether r answers q. SERVFAIL, REFUSED and the like mean
// that upstream could not help, so the next one is tried, as stub
// resolvers do.
func usable(r *dns.Msg, q *dns.Question) bool {
	if !r.Response || (r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError) {
		return false
	}
	if len(r.Question) != 1 {
		return false
	}
	rq := r.Question[0]
	return rq.Qtype == q.Qtype && rq.Qclass == q.Qclass && strings.EqualFold(rq.Name, q.Name)
}
