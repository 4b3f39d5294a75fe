package dnsproxy

import (
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// answerOf runs one query through ServeDNS and returns rcode and answer texts.
func answerOf(t *testing.T, s *Server, name string, qtype uint16) (int, []string) {
	t.Helper()
	r := serveDirect(t, s, name, qtype)
	return r.Rcode, rrTexts(r.Answer)
}

func wantAnswer(t *testing.T, s *Server, name string, qtype uint16, rcode int, answer ...string) {
	t.Helper()
	gotRcode, got := answerOf(t, s, name, qtype)
	want := slices.Sorted(slices.Values(answer))
	if gotRcode != rcode || !slices.Equal(got, want) {
		t.Errorf("%s %s: %s %q, want %s %q", name, dns.TypeToString[qtype],
			dns.RcodeToString[gotRcode], got, dns.RcodeToString[rcode], want)
	}
}

func TestTableServiceLifecycle(t *testing.T) {
	table := NewTable("cluster.local")
	table.MarkSynced()
	s := newTestServer(t, Config{Table: table})
	const name = "api.prod.svc.cluster.local."

	wantAnswer(t, s, name, dns.TypeA, dns.RcodeNameError)
	wantAnswer(t, s, "prod.svc.cluster.local.", dns.TypeA, dns.RcodeNameError)

	table.SetService(clusterIPService("prod", "api", []string{"10.96.1.1"}, svcPort("grpc", corev1.ProtocolTCP, 9000)))
	wantAnswer(t, s, name, dns.TypeA, dns.RcodeSuccess, "A 10.96.1.1")
	wantAnswer(t, s, "prod.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess)
	wantAnswer(t, s, "_grpc._tcp."+name, dns.TypeSRV, dns.RcodeSuccess, "SRV 0 100 9000 "+name)

	// Replacing the service replaces everything it produced.
	table.SetService(clusterIPService("prod", "api", []string{"10.96.1.2"}))
	wantAnswer(t, s, name, dns.TypeA, dns.RcodeSuccess, "A 10.96.1.2")
	wantAnswer(t, s, "_grpc._tcp."+name, dns.TypeSRV, dns.RcodeNameError)
	wantAnswer(t, s, "1.1.96.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError)
	wantAnswer(t, s, "2.1.96.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "PTR "+name)

	// A second service keeps the namespace alive when the first goes.
	table.SetService(clusterIPService("prod", "web", []string{"10.96.1.3"}))
	table.DeleteService("prod", "api")
	wantAnswer(t, s, name, dns.TypeA, dns.RcodeNameError)
	wantAnswer(t, s, "2.1.96.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError)
	wantAnswer(t, s, "prod.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess)
	table.DeleteService("prod", "web")
	wantAnswer(t, s, "prod.svc.cluster.local.", dns.TypeA, dns.RcodeNameError)

	// Deleting what is not there is harmless.
	table.DeleteService("prod", "web")
	table.DeleteEndpoints("prod", "web")
	table.DeletePod("prod", "web")

	// The static names survive everything.
	wantAnswer(t, s, "svc.cluster.local.", dns.TypeA, dns.RcodeSuccess)
	wantAnswer(t, s, "pod.cluster.local.", dns.TypeA, dns.RcodeSuccess)
	wantAnswer(t, s, "cluster.local.", dns.TypeNS, dns.RcodeSuccess, "NS ns.dns.cluster.local.")
	// Nothing is left behind but the three static names.
	table.wmu.Lock()
	byName, owned := len(table.byName), len(table.owned)
	table.wmu.Unlock()
	table.mu.RLock()
	names := len(table.names)
	table.mu.RUnlock()
	if byName != 3 || names != 3 || owned != 1 {
		t.Errorf("after deleting everything: %d names indexed, %d published, %d owners; want 3, 3, 1", byName, names, owned)
	}
}

func TestTableEndpointsChanges(t *testing.T) {
	table := NewTable("cluster.local")
	table.MarkSynced()
	s := newTestServer(t, Config{Table: table})
	const name = "db.default.svc.cluster.local."

	// Endpoints before their service take effect when it arrives.
	table.SetEndpoints(endpoints("default", "db", corev1.EndpointSubset{
		Addresses: []corev1.EndpointAddress{addr("10.244.0.1", "db-0")},
		Ports:     []corev1.EndpointPort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
	}))
	wantAnswer(t, s, name, dns.TypeA, dns.RcodeNameError)
	table.SetService(headlessService("default", "db", svcPort("pg", corev1.ProtocolTCP, 5432)))
	wantAnswer(t, s, name, dns.TypeA, dns.RcodeSuccess, "A 10.244.0.1")
	wantAnswer(t, s, "db-0."+name, dns.TypeA, dns.RcodeSuccess, "A 10.244.0.1")

	// An address becoming not ready disappears; the names stay.
	table.SetEndpoints(endpoints("default", "db", corev1.EndpointSubset{
		NotReadyAddresses: []corev1.EndpointAddress{addr("10.244.0.1", "db-0")},
		Ports:             []corev1.EndpointPort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
	}))
	wantAnswer(t, s, name, dns.TypeA, dns.RcodeSuccess)
	wantAnswer(t, s, "_pg._tcp."+name, dns.TypeSRV, dns.RcodeSuccess)
	wantAnswer(t, s, "db-0."+name, dns.TypeA, dns.RcodeNameError)
	wantAnswer(t, s, "1.0.244.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError)

	// Two subsets with different ports: each address gets its subset's port.
	table.SetEndpoints(endpoints("default", "db",
		corev1.EndpointSubset{
			Addresses: []corev1.EndpointAddress{addr("10.244.0.1", "db-0")},
			Ports:     []corev1.EndpointPort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
		},
		corev1.EndpointSubset{
			Addresses: []corev1.EndpointAddress{addr("10.244.0.2", "db-1")},
			Ports:     []corev1.EndpointPort{{Name: "pg", Port: 6432, Protocol: corev1.ProtocolTCP}},
		}))
	wantAnswer(t, s, "_pg._tcp."+name, dns.TypeSRV, dns.RcodeSuccess,
		"SRV 0 100 5432 db-0."+name, "SRV 0 100 6432 db-1."+name)

	// Deleting the endpoints empties the service without removing it.
	table.DeleteEndpoints("default", "db")
	wantAnswer(t, s, name, dns.TypeA, dns.RcodeSuccess)
	wantAnswer(t, s, "db-1."+name, dns.TypeA, dns.RcodeNameError)
}

func TestTablePods(t *testing.T) {
	table := NewTable("cluster.local")
	table.MarkSynced()
	s := newTestServer(t, Config{Table: table})
	const name = "192-168-1-10.kube-system.pod.cluster.local."

	// Host-network pods share the node's address.
	table.SetPod(pod("kube-system", "proxy", "192.168.1.10"))
	table.SetPod(pod("kube-system", "agent", "192.168.1.10"))
	wantAnswer(t, s, name, dns.TypeA, dns.RcodeSuccess, "A 192.168.1.10")
	table.DeletePod("kube-system", "proxy")
	wantAnswer(t, s, name, dns.TypeA, dns.RcodeSuccess, "A 192.168.1.10")
	wantAnswer(t, s, "10.1.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "PTR "+name)

	// A finished pod's address is no longer its own.
	finished := pod("kube-system", "agent", "192.168.1.10")
	finished.Status.Phase = corev1.PodSucceeded
	table.SetPod(finished)
	wantAnswer(t, s, name, dns.TypeA, dns.RcodeNameError)
	wantAnswer(t, s, "10.1.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError)

	// A pod without an address is ignored; it appears once it has one.
	pending := pod("default", "web-1", "")
	table.SetPod(pending)
	wantAnswer(t, s, "default.pod.cluster.local.", dns.TypeA, dns.RcodeNameError)
	table.SetPod(pod("default", "web-1", "10.244.5.5"))
	wantAnswer(t, s, "10-244-5-5.default.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, "A 10.244.5.5")

	// Dual-stack pods get an AAAA name too.
	dual := pod("default", "web-2", "10.244.5.6")
	dual.Status.PodIPs = []corev1.PodIP{{IP: "10.244.5.6"}, {IP: "fd00:10:244::6"}}
	table.SetPod(dual)
	wantAnswer(t, s, "fd00-10-244--6.default.pod.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, "AAAA fd00:10:244::6")
	wantAnswer(t, s, mustReverse("fd00:10:244::6"), dns.TypePTR, dns.RcodeSuccess, "PTR fd00-10-244--6.default.pod.cluster.local.")
}

// TestTablePTRPriority checks which name an address shared by several
// objects maps back to, and that removing the winner reveals the next.
func TestTablePTRPriority(t *testing.T) {
	table := NewTable("cluster.local")
	table.MarkSynced()
	s := newTestServer(t, Config{Table: table})
	const rev = "5.0.244.10.in-addr.arpa."

	table.SetPod(pod("default", "db-0", "10.244.0.5"))
	wantAnswer(t, s, rev, dns.TypePTR, dns.RcodeSuccess, "PTR 10-244-0-5.default.pod.cluster.local.")

	// A headless endpoint without hostname does not change the pod's name.
	table.SetService(headlessService("default", "db"))
	table.SetEndpoints(endpoints("default", "db", corev1.EndpointSubset{
		Addresses: []corev1.EndpointAddress{addr("10.244.0.5", "")},
	}))
	wantAnswer(t, s, rev, dns.TypePTR, dns.RcodeSuccess, "PTR 10-244-0-5.default.pod.cluster.local.")

	// With a hostname it does.
	table.SetEndpoints(endpoints("default", "db", corev1.EndpointSubset{
		Addresses: []corev1.EndpointAddress{addr("10.244.0.5", "db-0")},
	}))
	wantAnswer(t, s, rev, dns.TypePTR, dns.RcodeSuccess, "PTR db-0.db.default.svc.cluster.local.")

	table.DeleteService("default", "db")
	wantAnswer(t, s, rev, dns.TypePTR, dns.RcodeSuccess, "PTR 10-244-0-5.default.pod.cluster.local.")
	table.DeletePod("default", "db-0")
	wantAnswer(t, s, rev, dns.TypePTR, dns.RcodeNameError)
}

func TestTableHostnameValidation(t *testing.T) {
	table := NewTable("cluster.local")
	table.MarkSynced()
	s := newTestServer(t, Config{Table: table})
	table.SetService(headlessService("default", "db"))
	table.SetEndpoints(endpoints("default", "db", corev1.EndpointSubset{
		Addresses: []corev1.EndpointAddress{addr("10.244.0.5", "bad_name"), addr("10.244.0.6", "Db-1")},
	}))
	// An unusable hostname falls back to the dashed address; case is folded.
	wantAnswer(t, s, "10-244-0-5.db.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, "A 10.244.0.5")
	wantAnswer(t, s, "db-1.db.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, "A 10.244.0.6")
}

func TestTableTTL(t *testing.T) {
	table := fixtureTable()
	s := newTestServer(t, Config{Table: table, TTL: 30})
	r := serveDirect(t, s, "web.default.svc.cluster.local.", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 30 {
		t.Fatalf("answer %v, want TTL 30", r.Answer)
	}
	r = serveDirect(t, s, "missing.default.svc.cluster.local.", dns.TypeA)
	soa, ok := r.Ns[0].(*dns.SOA)
	if !ok || soa.Minttl != 30 || soa.Hdr.Ttl != 30 {
		t.Fatalf("authority %v, want an SOA with TTL and minimum 30", r.Ns)
	}
	// Records added later get the server's TTL too.
	table.SetService(clusterIPService("default", "late", []string{"10.96.9.9"}))
	r = serveDirect(t, s, "late.default.svc.cluster.local.", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 30 {
		t.Fatalf("answer %v, want TTL 30", r.Answer)
	}
}

// TestConcurrentQueriesAndUpdates is for the race detector: readers share
// precomputed records while writers replace them.
func TestConcurrentQueriesAndUpdates(t *testing.T) {
	table := fixtureTable()
	s := newTestServer(t, Config{Table: table})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			names := []string{"web.default.svc.cluster.local.", "DB.default.svc.cluster.local.", "_pg._tcp.db.default.svc.cluster.local.", "10.0.96.10.in-addr.arpa."}
			types := []uint16{dns.TypeA, dns.TypeA, dns.TypeSRV, dns.TypePTR}
			w := newFakeWriter(i%2 == 0)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				m := query(names[n%len(names)], types[n%len(types)])
				if i%2 == 0 {
					m.SetEdns0(1232, true)
				}
				s.ServeDNS(w, m)
			}
		}()
	}
	for n := range 300 {
		ip := "10.244.1." + strconv.Itoa(n%250+1)
		table.SetEndpoints(endpoints("default", "db", corev1.EndpointSubset{
			Addresses: []corev1.EndpointAddress{addr(ip, "db-0"), addr("10.244.1.6", "")},
			Ports:     []corev1.EndpointPort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
		}))
		table.SetPod(pod("default", "p"+strconv.Itoa(n%20), ip))
		if n%10 == 0 {
			table.DeleteService("default", "web")
		} else {
			table.SetService(clusterIPService("default", "web", []string{"10.96.0.10"}, svcPort("http", corev1.ProtocolTCP, 80+int32(n%3))))
		}
	}
	close(stop)
	wg.Wait()
}
