package dnsproxy

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// TestServer queries a running server over UDP for every kind of name the
// Kubernetes DNS spec defines, plus forwarded names.
func TestServer(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, Config{Table: fixtureTable(), Upstreams: []string{up.addr}})

	const soaText = "SOA ns.dns.cluster.local. hostmaster.cluster.local."
	cases := []struct {
		desc   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string // order-insensitive, "TYPE rdata"
		extra  []string // checked when not nil
		soa    bool     // SOA expected in authority
		aa     bool     // authoritative expected
	}{
		{desc: "service A", qname: "web.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"A 10.96.0.10"}, aa: true},
		{desc: "case-insensitive", qname: "WeB.DEFAULT.Svc.Cluster.Local.", qtype: dns.TypeA,
			answer: []string{"A 10.96.0.10"}, aa: true},
		{desc: "no IPv6 ClusterIP: NODATA", qname: "web.default.svc.cluster.local.", qtype: dns.TypeAAAA,
			soa: true, aa: true},
		{desc: "type without records: NODATA", qname: "web.default.svc.cluster.local.", qtype: dns.TypeTXT,
			soa: true, aa: true},
		{desc: "dual-stack AAAA", qname: "dual.kube-system.svc.cluster.local.", qtype: dns.TypeAAAA,
			answer: []string{"AAAA fd00::20"}, aa: true},
		{desc: "headless: every ready address", qname: "db.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"A 10.244.1.5", "A 10.244.1.6"}, aa: true},
		{desc: "headless endpoint hostname", qname: "db-0.db.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"A 10.244.1.5"}, aa: true},
		{desc: "headless endpoint without hostname", qname: "10-244-1-6.db.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"A 10.244.1.6"}, aa: true},
		{desc: "not-ready endpoint is not published", qname: "db-2.db.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true, aa: true},
		{desc: "headless without ready endpoints: NODATA", qname: "empty.default.svc.cluster.local.", qtype: dns.TypeA,
			soa: true, aa: true},
		{desc: "ExternalName: CNAME, not chased", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"CNAME api.example.com."}, aa: true},
		{desc: "SRV of a named port with glue", qname: "_http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"SRV 0 100 80 web.default.svc.cluster.local."},
			extra:  []string{"A 10.96.0.10"}, aa: true},
		{desc: "plain SRV: every named port", qname: "web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"SRV 0 100 80 web.default.svc.cluster.local.", "SRV 0 100 9090 web.default.svc.cluster.local."},
			extra:  []string{"A 10.96.0.10"}, aa: true},
		{desc: "SRV glue of a dual-stack service", qname: "_dns._udp.dual.kube-system.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"SRV 0 100 53 dual.kube-system.svc.cluster.local."},
			extra:  []string{"A 10.96.0.20", "AAAA fd00::20"}, aa: true},
		{desc: "SRV with wrong protocol", qname: "_http._udp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			rcode: dns.RcodeNameError, soa: true, aa: true},
		{desc: "headless SRV: one per ready address", qname: "_pg._tcp.db.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"SRV 0 100 5432 10-244-1-6.db.default.svc.cluster.local.", "SRV 0 100 5432 db-0.db.default.svc.cluster.local."},
			extra:  []string{"A 10.244.1.5", "A 10.244.1.6"}, aa: true},
		{desc: "headless SRV name without endpoints: NODATA", qname: "_x._tcp.empty.default.svc.cluster.local.", qtype: dns.TypeSRV,
			soa: true, aa: true},
		{desc: "pod A, verified", qname: "10-244-2-9.default.pod.cluster.local.", qtype: dns.TypeA,
			answer: []string{"A 10.244.2.9"}, aa: true},
		{desc: "pod A in the wrong namespace", qname: "10-244-2-9.other.pod.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true, aa: true},
		{desc: "pod A for an unknown address", qname: "10-244-9-9.default.pod.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true, aa: true},
		{desc: "PTR of a ClusterIP", qname: "10.0.96.10.in-addr.arpa.", qtype: dns.TypePTR,
			answer: []string{"PTR web.default.svc.cluster.local."}, aa: true},
		{desc: "PTR of an IPv6 ClusterIP", qname: mustReverse("fd00::20"), qtype: dns.TypePTR,
			answer: []string{"PTR dual.kube-system.svc.cluster.local."}, aa: true},
		{desc: "PTR of a headless endpoint with hostname", qname: "5.1.244.10.in-addr.arpa.", qtype: dns.TypePTR,
			answer: []string{"PTR db-0.db.default.svc.cluster.local."}, aa: true},
		{desc: "PTR of a pod", qname: "9.2.244.10.in-addr.arpa.", qtype: dns.TypePTR,
			answer: []string{"PTR 10-244-2-9.default.pod.cluster.local."}, aa: true},
		{desc: "PTR of an unknown address goes upstream", qname: "10.2.0.192.in-addr.arpa.", qtype: dns.TypePTR,
			answer: []string{"PTR host.example.org."}},
		{desc: "empty non-terminal: namespace", qname: "default.svc.cluster.local.", qtype: dns.TypeA,
			soa: true, aa: true},
		{desc: "empty non-terminal: svc", qname: "svc.cluster.local.", qtype: dns.TypeA,
			soa: true, aa: true},
		{desc: "empty non-terminal: _tcp", qname: "_tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			soa: true, aa: true},
		{desc: "empty non-terminal: pod namespace", qname: "default.pod.cluster.local.", qtype: dns.TypeA,
			soa: true, aa: true},
		{desc: "apex A: NODATA", qname: "cluster.local.", qtype: dns.TypeA,
			soa: true, aa: true},
		{desc: "unknown namespace", qname: "nope.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true, aa: true},
		{desc: "unknown service", qname: "missing.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true, aa: true},
		{desc: "below a service", qname: "a.b.web.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true, aa: true},
		{desc: "odd characters: underscore", qname: "we_b.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true, aa: true},
		{desc: "odd characters: NUL", qname: `\000.default.svc.cluster.local.`, qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true, aa: true},
		{desc: "odd characters: escaped dot", qname: `web\.default.svc.cluster.local.`, qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true, aa: true},
		{desc: "SOA", qname: "cluster.local.", qtype: dns.TypeSOA,
			answer: []string{soaText}, aa: true},
		{desc: "NS", qname: "cluster.local.", qtype: dns.TypeNS,
			answer: []string{"NS ns.dns.cluster.local."}, aa: true},
		{desc: "forwarded A", qname: "example.org.", qtype: dns.TypeA,
			answer: []string{"A 192.0.2.10"}},
		{desc: "forwarded NXDOMAIN", qname: "nope.example.org.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true},
		{desc: "forwarded NODATA", qname: "example.org.", qtype: dns.TypeAAAA,
			soa: true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := exchange(t, "udp", s.Addr(), query(tc.qname, tc.qtype))
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s\n%v", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode], r)
			}
			got := rrTexts(r.Answer)
			if tc.qtype == dns.TypeSOA {
				// The serial moves; compare the fixed part.
				got = soaPrefix(got)
			}
			want := slices.Sorted(slices.Values(tc.answer))
			if !slices.Equal(got, want) {
				t.Errorf("answer %q, want %q", got, want)
			}
			for _, rr := range r.Answer {
				if rr.Header().Name != tc.qname {
					t.Errorf("answer owner %q, want the question's spelling %q", rr.Header().Name, tc.qname)
				}
			}
			if tc.extra != nil {
				if got := rrTexts(r.Extra); !slices.Equal(got, tc.extra) {
					t.Errorf("additional %q, want %q", got, tc.extra)
				}
			}
			if hasSOA(r.Ns) != tc.soa {
				t.Errorf("SOA in authority: %v, want %v\n%v", hasSOA(r.Ns), tc.soa, r)
			}
			if r.Authoritative != tc.aa {
				t.Errorf("AA %v, want %v", r.Authoritative, tc.aa)
			}
			if !r.RecursionAvailable {
				t.Errorf("RA not set although upstreams are configured")
			}
			if r.Truncated {
				t.Errorf("unexpected TC")
			}
		})
	}
}

func soaPrefix(texts []string) []string {
	out := make([]string, len(texts))
	for i, s := range texts {
		var ns, mbox string
		var serial, refresh, retry, expire, minimum uint32
		var typ string
		_, err := fmt.Sscan(s, &typ, &ns, &mbox, &serial, &refresh, &retry, &expire, &minimum)
		if err != nil || refresh != 7200 || retry != 1800 || expire != 86400 || minimum != defaultTTL {
			out[i] = s // shows up in the failure message as it is
			continue
		}
		out[i] = typ + " " + ns + " " + mbox
	}
	return out
}

func mustReverse(ip string) string {
	name, err := dns.ReverseAddr(ip)
	if err != nil {
		panic(err)
	}
	return name
}

func TestSOASerialMovesOnChange(t *testing.T) {
	table := fixtureTable()
	s := newTestServer(t, Config{Table: table})
	serial := func() uint32 {
		r := serveDirect(t, s, "cluster.local.", dns.TypeSOA)
		if len(r.Answer) != 1 {
			t.Fatalf("SOA answer: %v", r)
		}
		return r.Answer[0].(*dns.SOA).Serial
	}
	before := serial()
	table.SetService(clusterIPService("default", "web", []string{"10.96.0.10"})) // ports removed
	after := serial()
	if after <= before {
		t.Errorf("serial %d after a change, was %d", after, before)
	}
	// Re-sending an unchanged object (an informer resync) changes nothing.
	table.SetService(clusterIPService("default", "web", []string{"10.96.0.10"}))
	if again := serial(); again != after {
		t.Errorf("serial moved from %d to %d on a no-op update", after, again)
	}
}

func TestNotSyncedServfail(t *testing.T) {
	up := startUpstream(t)
	table := NewTable("cluster.local.")
	table.SetService(clusterIPService("default", "web", []string{"10.96.0.10"}))
	s := startServer(t, Config{Table: table, Upstreams: []string{up.addr}})

	r := exchange(t, "udp", s.Addr(), query("web.default.svc.cluster.local.", dns.TypeA))
	if r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("before MarkSynced: rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	// Names outside the cluster are unaffected.
	if r := exchange(t, "udp", s.Addr(), query("example.org.", dns.TypeA)); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("forwarding before MarkSynced: %v", r)
	}

	table.MarkSynced()
	if !table.Synced() {
		t.Fatal("Synced() false after MarkSynced")
	}
	r = exchange(t, "udp", s.Addr(), query("web.default.svc.cluster.local.", dns.TypeA))
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("after MarkSynced: %v", r)
	}
}

func TestForwardCache(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, Config{Table: fixtureTable(), Upstreams: []string{up.addr}})

	for i, name := range []string{"example.org.", "EXAMPLE.org.", "example.org."} {
		r := exchange(t, "udp", s.Addr(), query(name, dns.TypeA))
		if got := rrTexts(r.Answer); !slices.Equal(got, []string{"A 192.0.2.10"}) {
			t.Fatalf("query %d: answer %q", i, got)
		}
		if owner := r.Answer[0].Header().Name; owner != name {
			t.Errorf("query %d: cached answer owned by %q, want the question's spelling %q", i, owner, name)
		}
		if r.Answer[0].Header().Ttl > 60 {
			t.Errorf("query %d: TTL %d grew in the cache", i, r.Answer[0].Header().Ttl)
		}
	}
	if n := up.count("example.org.", dns.TypeA); n != 1 {
		t.Errorf("upstream saw %d queries for example.org A, want 1 (the rest from the cache)", n)
	}

	// Denials are cached too (per the SOA minimum).
	for range 2 {
		if r := exchange(t, "udp", s.Addr(), query("nope.example.org.", dns.TypeA)); r.Rcode != dns.RcodeNameError {
			t.Fatalf("rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
	}
	if n := up.count("nope.example.org.", dns.TypeA); n != 1 {
		t.Errorf("upstream saw %d queries for the NXDOMAIN name, want 1", n)
	}

	// The DO bit is part of the key.
	m := query("example.org.", dns.TypeA)
	m.SetEdns0(1232, true)
	exchange(t, "udp", s.Addr(), m)
	if n := up.count("example.org.", dns.TypeA); n != 2 {
		t.Errorf("upstream saw %d queries after a DO query, want 2", n)
	}
}

func TestForwardCacheDisabled(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, Config{Table: fixtureTable(), Upstreams: []string{up.addr}, CacheSize: -1})
	for range 2 {
		exchange(t, "udp", s.Addr(), query("example.org.", dns.TypeA))
	}
	if n := up.count("example.org.", dns.TypeA); n != 2 {
		t.Errorf("upstream saw %d queries with the cache disabled, want 2", n)
	}
}

func TestForwardUpstreamDown(t *testing.T) {
	s := startServer(t, Config{Table: fixtureTable(), Upstreams: []string{deadUpstream(t)}})
	start := time.Now()
	r := exchange(t, "udp", s.Addr(), query("example.org.", dns.TypeA))
	if r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v; a refused upstream should fail fast", d)
	}
	// Cluster names do not depend on upstreams.
	if r := exchange(t, "udp", s.Addr(), query("web.default.svc.cluster.local.", dns.TypeA)); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("cluster name with upstream down: %v", r)
	}
}

// TestForwardConcurrencyLimit: with every slot taken by queries waiting on
// upstreams, more queries fail at once without reaching an upstream.
func TestForwardConcurrencyLimit(t *testing.T) {
	up := startUpstream(t)
	s := newTestServer(t, Config{Table: fixtureTable(), Upstreams: []string{up.addr}})
	for range cap(s.fwd.slots) {
		s.fwd.slots <- struct{}{}
	}
	if r := serveDirect(t, s, "example.org.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("with no free slot: rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if n := up.total(); n != 0 {
		t.Errorf("upstream saw %d queries with no free slot", n)
	}
	<-s.fwd.slots
	if r := serveDirect(t, s, "example.org.", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("with a free slot: rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
	}
	if len(s.fwd.slots) != cap(s.fwd.slots)-1 {
		t.Errorf("slot not released: %d of %d in use", len(s.fwd.slots), cap(s.fwd.slots))
	}
}

func TestForwardFallsBackToNextUpstream(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, Config{Table: fixtureTable(), Upstreams: []string{deadUpstream(t), up.addr}})
	r := exchange(t, "udp", s.Addr(), query("example.org.", dns.TypeA))
	if got := rrTexts(r.Answer); !slices.Equal(got, []string{"A 192.0.2.10"}) {
		t.Fatalf("answer %q via the second upstream", got)
	}
}

func TestForwardRetriesOverTCPWhenTruncated(t *testing.T) {
	up := startUpstream(t)
	s := startServer(t, Config{Table: fixtureTable(), Upstreams: []string{up.addr}})
	r := exchange(t, "udp", s.Addr(), query("tc.example.org.", dns.TypeA))
	if got := rrTexts(r.Answer); !slices.Equal(got, []string{"A 192.0.2.20"}) || r.Truncated {
		t.Fatalf("answer %q (TC %v), want the upstream's TCP answer", got, r.Truncated)
	}
	if n := up.count("tc.example.org.", dns.TypeA); n != 2 {
		t.Errorf("upstream saw %d queries, want 2 (UDP then TCP)", n)
	}
}

func TestNoUpstreams(t *testing.T) {
	s := startServer(t, Config{Table: fixtureTable()})
	r := exchange(t, "udp", s.Addr(), query("example.org.", dns.TypeA))
	if r.Rcode != dns.RcodeRefused {
		t.Errorf("outside name without upstreams: rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	r = exchange(t, "udp", s.Addr(), query("10.2.0.192.in-addr.arpa.", dns.TypePTR))
	if r.Rcode != dns.RcodeNameError {
		t.Errorf("unknown PTR without upstreams: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	r = exchange(t, "udp", s.Addr(), query("web.default.svc.cluster.local.", dns.TypeA))
	if r.Rcode != dns.RcodeSuccess || r.RecursionAvailable {
		t.Errorf("cluster name without upstreams: rcode %s RA %v, want NOERROR without RA", dns.RcodeToString[r.Rcode], r.RecursionAvailable)
	}
}

func TestTruncation(t *testing.T) {
	up := startUpstream(t)
	table := fixtureTable()
	// A headless service whose A set (60 records) cannot fit in 512 bytes.
	var addrs []string
	var sub corev1.EndpointSubset
	for i := range 60 {
		ip := "10.245.0." + strconv.Itoa(i+1)
		addrs = append(addrs, ip)
		sub.Addresses = append(sub.Addresses, addr(ip, ""))
	}
	table.SetService(headlessService("default", "many"))
	table.SetEndpoints(endpoints("default", "many", sub))
	s := startServer(t, Config{Table: table, Upstreams: []string{up.addr}})

	for _, tc := range []struct {
		qname string
		qtype uint16
		full  int
	}{
		{"big.example.org.", dns.TypeTXT, len(bigTXT)},
		{"many.default.svc.cluster.local.", dns.TypeA, len(addrs)},
	} {
		r := exchange(t, "udp", s.Addr(), query(tc.qname, tc.qtype))
		if !r.Truncated || len(r.Answer) >= tc.full {
			t.Errorf("%s over UDP without EDNS0: TC %v with %d records, want TC and fewer than %d", tc.qname, r.Truncated, len(r.Answer), tc.full)
		}
		r.Compress = true // as it was on the wire
		if n := r.Len(); n > dns.MinMsgSize {
			t.Errorf("%s over UDP without EDNS0: %d bytes", tc.qname, n)
		}

		m := query(tc.qname, tc.qtype)
		m.SetEdns0(4096, false)
		r = exchange(t, "udp", s.Addr(), m)
		if r.Truncated || len(r.Answer) != tc.full {
			t.Errorf("%s over UDP with a 4096-byte buffer: TC %v with %d records, want all %d", tc.qname, r.Truncated, len(r.Answer), tc.full)
		}
		if r.IsEdns0() == nil {
			t.Errorf("%s: EDNS0 query answered without OPT", tc.qname)
		}

		r = exchange(t, "tcp", s.Addr(), query(tc.qname, tc.qtype))
		if r.Truncated || len(r.Answer) != tc.full {
			t.Errorf("%s over TCP: TC %v with %d records, want all %d", tc.qname, r.Truncated, len(r.Answer), tc.full)
		}
	}
}

// TestMalformed sends what a broken or hostile client might, and checks
// the server answers what it should and keeps serving.
func TestMalformed(t *testing.T) {
	s := startServer(t, Config{Table: fixtureTable()})
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// roundTrip returns the reply, or nil when none came within wait.
	roundTripWait := func(packet []byte, wait time.Duration) *dns.Msg {
		t.Helper()
		if _, err := conn.Write(packet); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			return nil // no reply
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatalf("unparsable reply: %v", err)
		}
		return m
	}
	roundTrip := func(packet []byte) *dns.Msg { return roundTripWait(packet, 3*time.Second) }
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// Two questions: FORMERR.
	two := query("web.default.svc.cluster.local.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "db.default.svc.cluster.local.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if r := roundTrip(pack(two)); r == nil || r.Rcode != dns.RcodeFormatError || r.Id != two.Id {
		t.Errorf("two questions: %v, want FORMERR with the query's ID", r)
	}

	// A valid header (one question) followed by garbage: FORMERR.
	garbage := pack(query("web.default.svc.cluster.local.", dns.TypeA))
	garbage = append(garbage[:12], 0x3f, 0xff, 0xff, 0x01)
	if r := roundTrip(garbage); r == nil || r.Rcode != dns.RcodeFormatError {
		t.Errorf("garbage question: %v, want FORMERR", r)
	}

	// Random bytes, a response and a runt packet: no reply, no crash.
	for _, p := range [][]byte{
		{0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		func() []byte {
			m := query("web.default.svc.cluster.local.", dns.TypeA)
			m.Response = true
			return pack(m)
		}(),
		{0x01, 0x02, 0x03},
	} {
		if r := roundTripWait(p, 200*time.Millisecond); r != nil {
			t.Errorf("reply to %x: %v", p, r)
		}
	}

	// Other opcodes: NOTIMP.
	for _, op := range []int{dns.OpcodeNotify, dns.OpcodeUpdate, dns.OpcodeStatus} {
		m := query("cluster.local.", dns.TypeSOA)
		m.Opcode = op
		if r := roundTrip(pack(m)); r == nil || r.Rcode != dns.RcodeNotImplemented {
			t.Errorf("opcode %s: %v, want NOTIMP", dns.OpcodeToString[op], r)
		}
	}

	// EDNS version 1: BADVERS.
	m := query("web.default.svc.cluster.local.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	if r := roundTrip(pack(m)); r == nil || r.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS version 1: %v, want BADVERS", r)
	}

	// Still serving, on both transports.
	for _, network := range []string{"udp", "tcp"} {
		if r := exchange(t, network, s.Addr(), query("web.default.svc.cluster.local.", dns.TypeA)); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("%s after malformed packets: %v", network, r)
		}
	}
}

// TestServeDNSDirect covers the checks ServeDNS makes itself, for callers
// that bypass the listeners' accept function.
func TestServeDNSDirect(t *testing.T) {
	s := newTestServer(t, Config{Table: fixtureTable()})
	w := newFakeWriter(true)
	m := query("web.default.svc.cluster.local.", dns.TypeA)
	m.Question = append(m.Question, m.Question[0])
	s.ServeDNS(w, m)
	if r := w.reply(t); r.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: rcode %s", dns.RcodeToString[r.Rcode])
	}
	w = newFakeWriter(true)
	m = query("web.default.svc.cluster.local.", dns.TypeA)
	m.Question = nil
	s.ServeDNS(w, m)
	if r := w.reply(t); r.Rcode != dns.RcodeFormatError {
		t.Errorf("no question: rcode %s", dns.RcodeToString[r.Rcode])
	}
	w = newFakeWriter(true)
	m = query("web.default.svc.cluster.local.", dns.TypeA)
	m.Opcode = dns.OpcodeNotify
	s.ServeDNS(w, m)
	if r := w.reply(t); r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: rcode %s", dns.RcodeToString[r.Rcode])
	}
	// Another class inside the cluster domain.
	w = newFakeWriter(true)
	m = query("web.default.svc.cluster.local.", dns.TypeA)
	m.Question[0].Qclass = dns.ClassCHAOS
	s.ServeDNS(w, m)
	if r := w.reply(t); r.Rcode != dns.RcodeRefused {
		t.Errorf("CHAOS class: rcode %s", dns.RcodeToString[r.Rcode])
	}
}

func TestServerLifecycle(t *testing.T) {
	s := newTestServer(t, Config{Table: fixtureTable(), Addr: "127.0.0.1:0"})
	if s.Addr() != "" {
		t.Errorf("Addr before Start: %q", s.Addr())
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	addr := s.Addr()
	if _, port, _ := net.SplitHostPort(addr); port == "0" || port == "" {
		t.Fatalf("Addr %q has no real port", addr)
	}
	exchange(t, "tcp", addr, query("web.default.svc.cluster.local.", dns.TypeA))
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := &dns.Client{Net: "tcp", Timeout: 500 * time.Millisecond}
	if _, _, err := c.Exchange(query("web.default.svc.cluster.local.", dns.TypeA), addr); err == nil {
		t.Error("server still answers after Shutdown")
	}
	// A stopped server can be started again.
	if err := s.Start(); err != nil {
		t.Fatalf("Start after Shutdown: %v", err)
	}
	exchange(t, "udp", s.Addr(), query("web.default.svc.cluster.local.", dns.TypeA))
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestNewServerValidates(t *testing.T) {
	table := NewTable("cluster.local")
	for _, tc := range []struct {
		desc string
		cfg  Config
	}{
		{"no table", Config{}},
		{"domain differs from the table's", Config{Table: table, Domain: "other.local"}},
		{"bad upstream", Config{Table: table, Upstreams: []string{"not an address"}}},
		{"bad upstream port", Config{Table: table, Upstreams: []string{"127.0.0.1:99999"}}},
		{"bad listen address", Config{Table: table, Addr: "127.0.0.1"}},
	} {
		if _, err := NewServer(tc.cfg); err == nil {
			t.Errorf("%s: no error", tc.desc)
		}
	}
	s, err := NewServer(Config{Table: table, Domain: "Cluster.Local.", Upstreams: []string{"192.0.2.1"}, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("normalised domain and bare upstream IP: %v", err)
	}
	if got := s.fwd.upstreams; !slices.Equal(got, []string{"192.0.2.1:53"}) {
		t.Errorf("upstreams %q", got)
	}
}
