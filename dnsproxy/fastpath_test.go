package dnsproxy

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

func TestParseFast(t *testing.T) {
	packed := func(m *dns.Msg) []byte {
		raw, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	plain := query("web.default.svc.cluster.local.", dns.TypeA)
	upper := query("Web.default.svc.cluster.local.", dns.TypeA)
	edns := query("web.default.svc.cluster.local.", dns.TypeA)
	edns.SetEdns0(1232, false)
	odd := query("we\\032b.default.svc.cluster.local.", dns.TypeA)
	notQuery := query("web.default.svc.cluster.local.", dns.TypeA)
	notQuery.Opcode = dns.OpcodeNotify
	reply := query("web.default.svc.cluster.local.", dns.TypeA)
	reply.Response = true
	trailing := append(packed(plain), 0)
	cases := []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{"plain query", packed(plain), true},
		{"upper case (the normal path echoes the spelling)", packed(upper), false},
		{"EDNS", packed(edns), false},
		{"a byte outside letters, digits, - and _", packed(odd), false},
		{"another opcode", packed(notQuery), false},
		{"a reply", packed(reply), false},
		{"trailing bytes", trailing, false},
		{"short", packed(plain)[:14], false},
	}
	for _, c := range cases {
		if _, ok := parseFast(c.raw); ok != c.ok {
			t.Errorf("%s: ok %v, want %v", c.name, ok, c.ok)
		}
	}
	k, _ := parseFast(packed(plain))
	if k.qtype != dns.TypeA || k.qclass != dns.ClassINET || !k.rd {
		t.Errorf("key %+v", k)
	}
}

// TestFastPathAnswersAsTheNormalPathAndFollowsTheTable: the second query
// for a name is answered from the packed reply (same answer, its own ID);
// a change in the table is seen by the next query.
func TestFastPathAnswersAsTheNormalPathAndFollowsTheTable(t *testing.T) {
	table := fixtureTable()
	s := startServer(t, Config{Table: table})
	first := exchange(t, "udp", s.Addr(), query("web.default.svc.cluster.local.", dns.TypeA))
	if got := rrTexts(first.Answer); len(got) != 1 || got[0] != "A 10.96.0.10" {
		t.Fatalf("first answer %v", got)
	}
	// The reply is stored after it is sent: wait for it.
	stored := 0
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		s.fast.mu.RLock()
		stored = len(s.fast.m)
		s.fast.mu.RUnlock()
		if stored != 0 || time.Now().After(deadline) {
			break
		}
	}
	if stored != 1 {
		t.Fatalf("%d packed replies after one query, want 1", stored)
	}
	// Mark the packed reply (its last 4 bytes are the A record's
	// address): the marked address coming back proves the fast path
	// answered. Then put it back.
	// Stored replies are never changed in place: swap in marked copies.
	swap := func(mark func([]byte)) {
		s.fast.mu.Lock()
		defer s.fast.mu.Unlock()
		for k, v := range s.fast.m {
			c := append([]byte(nil), v...)
			mark(c)
			s.fast.m[k] = c
		}
	}
	var saved []byte
	swap(func(b []byte) {
		saved = append([]byte(nil), b[len(b)-4:]...)
		copy(b[len(b)-4:], []byte{10, 1, 2, 3})
	})
	if r := exchange(t, "udp", s.Addr(), query("web.default.svc.cluster.local.", dns.TypeA)); rrTexts(r.Answer)[0] != "A 10.1.2.3" {
		t.Fatalf("the second query did not take the fast path: %v", rrTexts(r.Answer))
	}
	swap(func(b []byte) { copy(b[len(b)-4:], saved) })
	for range 3 {
		q := query("web.default.svc.cluster.local.", dns.TypeA)
		r := exchange(t, "udp", s.Addr(), q) // checks the ID
		if got := rrTexts(r.Answer); len(got) != 1 || got[0] != "A 10.96.0.10" || !r.Authoritative || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("fast answer %v", r)
		}
	}
	// A missing name's denial is kept too, and so is its SOA.
	for range 2 {
		if r := exchange(t, "udp", s.Addr(), query("nope.default.svc.cluster.local.", dns.TypeA)); r.Rcode != dns.RcodeNameError || !hasSOA(r.Ns) {
			t.Fatalf("NXDOMAIN %v", r)
		}
	}
	table.SetService(clusterIPService("default", "web", []string{"10.96.0.99"}, svcPort("http", corev1.ProtocolTCP, 80)))
	r := exchange(t, "udp", s.Addr(), query("web.default.svc.cluster.local.", dns.TypeA))
	if got := rrTexts(r.Answer); len(got) != 1 || got[0] != "A 10.96.0.99" {
		t.Fatalf("after the change: %v", got)
	}
	table.SetService(clusterIPService("default", "nope", []string{"10.96.0.77"}, svcPort("http", corev1.ProtocolTCP, 80)))
	if r := exchange(t, "udp", s.Addr(), query("nope.default.svc.cluster.local.", dns.TypeA)); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("a new service after its denial was kept: %v", r)
	}
}

// TestFastPathOnAWildcardSocket: a server bound to every address answers
// from the address the query came to (the session's source), fast path
// included.
func TestFastPathOnAWildcardSocket(t *testing.T) {
	s := startServer(t, Config{Addr: "0.0.0.0:0", Table: fixtureTable()})
	_, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := exchange(t, "udp", net.JoinHostPort("127.0.0.1", port), query("web.default.svc.cluster.local.", dns.TypeA))
		if got := rrTexts(r.Answer); len(got) != 1 || got[0] != "A 10.96.0.10" {
			t.Fatalf("answer %v", got)
		}
	}
}
