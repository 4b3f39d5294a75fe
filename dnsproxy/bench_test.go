package dnsproxy

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// benchTable is a mid-sized cluster: 2,000 services over 20 namespaces.
func benchTable() *Table {
	t := NewTable("cluster.local")
	for i := range 2000 {
		ns := "ns" + strconv.Itoa(i%20)
		ip := "10.96." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+1)
		t.SetService(clusterIPService(ns, "svc"+strconv.Itoa(i), []string{ip}, svcPort("http", corev1.ProtocolTCP, 80)))
	}
	t.MarkSynced()
	return t
}

// BenchmarkClusterLookup serves a cluster A query through the handler, the
// way a UDP listener calls it, with a writer that packs the reply into a
// reused buffer: allocs/op is what the server itself costs per query.
func BenchmarkClusterLookup(b *testing.B) {
	s := newTestServer(b, Config{Table: benchTable()})
	for _, bc := range []struct {
		desc string
		name string
		edns bool
	}{
		{"A", "svc1234.ns14.svc.cluster.local.", false},
		{"A+EDNS0", "svc1234.ns14.svc.cluster.local.", true},
		{"A/mixed-case", "Svc1234.NS14.svc.cluster.local.", false},
		{"NXDOMAIN", "nope.ns14.svc.cluster.local.", false},
	} {
		b.Run(bc.desc, func(b *testing.B) {
			req := query(bc.name, dns.TypeA)
			if bc.edns {
				req.SetEdns0(1232, false)
			}
			w := newFakeWriter(true)
			s.ServeDNS(w, req)
			if r := w.reply(b); r.Rcode != dns.RcodeSuccess && bc.desc != "NXDOMAIN" {
				b.Fatalf("unexpected reply %v", r)
			}
			b.ReportAllocs()
			for b.Loop() {
				s.ServeDNS(w, req)
			}
		})
	}
}

// BenchmarkClusterLookupParallel is the handler on every core at once, to
// show the read lock does not serialise queries.
func BenchmarkClusterLookupParallel(b *testing.B) {
	s := newTestServer(b, Config{Table: benchTable()})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := query("svc1234.ns14.svc.cluster.local.", dns.TypeA)
		w := newFakeWriter(true)
		for pb.Next() {
			s.ServeDNS(w, req)
		}
	})
}

// BenchmarkServeUDP measures queries per second through the real UDP
// listener on loopback. Clients share the machine's cores with the server,
// so the figure is a lower bound of what the server alone can do.
func BenchmarkServeUDP(b *testing.B) {
	s := startServer(b, Config{Table: benchTable()})
	req := query("svc1234.ns14.svc.cluster.local.", dns.TypeA)
	packet, err := req.Pack()
	if err != nil {
		b.Fatal(err)
	}
	const clients = 8
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("udp", s.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}

	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for i, c := range conns {
		n := b.N / clients
		if i < b.N%clients {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			for range n {
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Write(packet); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				if _, err := c.Read(buf); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed != nil {
		b.Fatal(failed)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "qps")
}
