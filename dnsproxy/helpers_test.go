package dnsproxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// quietLogger keeps test output readable.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// --- Kubernetes objects ---

func svcPort(name string, proto corev1.Protocol, port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: proto, Port: port}
}

func clusterIPService(ns, name string, ips []string, ports ...corev1.ServicePort) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: ips, Ports: ports},
	}
	if len(ips) > 0 {
		s.Spec.ClusterIP = ips[0]
	}
	return s
}

func headlessService(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: corev1.ClusterIPNone, Ports: ports},
	}
}

func externalService(ns, name, target string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target},
	}
}

func endpoints(ns, name string, subsets ...corev1.EndpointSubset) *corev1.Endpoints {
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Subsets: subsets}
}

func addr(ip, hostname string) corev1.EndpointAddress {
	return corev1.EndpointAddress{IP: ip, Hostname: hostname}
}

func pod(ns, name, ip string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
}

// fixtureTable is the cluster most tests query.
func fixtureTable() *Table {
	t := NewTable("cluster.local")
	t.SetService(clusterIPService("default", "web", []string{"10.96.0.10"},
		svcPort("http", corev1.ProtocolTCP, 80), svcPort("metrics", corev1.ProtocolTCP, 9090)))
	t.SetService(headlessService("default", "db", svcPort("pg", corev1.ProtocolTCP, 5432)))
	t.SetEndpoints(endpoints("default", "db", corev1.EndpointSubset{
		Addresses:         []corev1.EndpointAddress{addr("10.244.1.5", "db-0"), addr("10.244.1.6", "")},
		NotReadyAddresses: []corev1.EndpointAddress{addr("10.244.1.7", "db-2")},
		Ports:             []corev1.EndpointPort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
	}))
	t.SetService(headlessService("default", "empty", svcPort("x", corev1.ProtocolTCP, 1)))
	t.SetService(externalService("default", "ext", "api.example.com"))
	t.SetService(clusterIPService("kube-system", "dual", []string{"10.96.0.20", "fd00::20"},
		svcPort("dns", corev1.ProtocolUDP, 53), svcPort("dns-tcp", corev1.ProtocolTCP, 53)))
	t.SetPod(pod("default", "db-0", "10.244.1.5"))
	t.SetPod(pod("default", "client", "10.244.2.9"))
	t.SetPod(pod("other", "x", "10.244.3.3"))
	t.MarkSynced()
	return t
}

// --- servers ---

// startServer starts a Server on a loopback port and stops it with the test.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// upstream is a resolver on loopback standing in for the node's resolvers.
// It serves example.org data and counts the queries it receives.
type upstream struct {
	addr string

	mu      sync.Mutex
	queries map[string]int // "name type" -> count
}

func (u *upstream) count(name string, qtype uint16) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.queries[strings.ToLower(name)+" "+dns.TypeToString[qtype]]
}

func (u *upstream) total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, c := range u.queries {
		n += c
	}
	return n
}

// bigTXT is an answer that cannot fit in 512 bytes but fits in 1232.
var bigTXT = func() []string {
	var out []string
	for i := range 8 {
		out = append(out, strings.Repeat(string(rune('a'+i)), 100))
	}
	return out
}()

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{queries: make(map[string]int)}
	soa := func() dns.RR {
		rr, _ := dns.NewRR("example.org. 300 IN SOA ns.example.org. hostmaster.example.org. 1 7200 1800 86400 60")
		return rr
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		u.mu.Lock()
		u.queries[strings.ToLower(q.Name)+" "+dns.TypeToString[q.Qtype]]++
		u.mu.Unlock()

		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		_, overUDP := w.RemoteAddr().(*net.UDPAddr)
		switch strings.ToLower(q.Name) {
		case "example.org.":
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, mustRR(q.Name+" 60 IN A 192.0.2.10"))
			} else {
				m.Ns = append(m.Ns, soa())
			}
		case "big.example.org.":
			for _, s := range bigTXT {
				m.Answer = append(m.Answer, &dns.TXT{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
					Txt: []string{s},
				})
			}
		case "tc.example.org.":
			// Only the TCP answer is complete, to prove the retry.
			if overUDP {
				m.Truncated = true
			} else {
				m.Answer = append(m.Answer, mustRR(q.Name+" 60 IN A 192.0.2.20"))
			}
		case "10.2.0.192.in-addr.arpa.":
			m.Answer = append(m.Answer, mustRR(q.Name+" 60 IN PTR host.example.org."))
		default:
			m.Rcode = dns.RcodeNameError
			m.Ns = append(m.Ns, soa())
		}
		if opt := r.IsEdns0(); opt != nil {
			m.SetEdns0(advertisedUDPSize, opt.Do())
		}
		_ = w.WriteMsg(m)
	})

	pcs, ln, err := listenPair("127.0.0.1:0", 1)
	if err != nil {
		t.Fatalf("upstream listen: %v", err)
	}
	pc := pcs[0]
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	udp := &dns.Server{PacketConn: pc, Handler: handler, NotifyStartedFunc: notify}
	tcp := &dns.Server{Listener: ln, Handler: handler, NotifyStartedFunc: notify}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	<-started
	<-started
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	u.addr = pc.LocalAddr().String()
	return u
}

// deadUpstream returns a loopback address with nothing listening: UDP
// queries to it fail at once with "connection refused".
func deadUpstream(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().String()
	pc.Close()
	return a
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

// --- queries ---

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// exchange sends m over network ("udp" or "tcp") and fails the test on a
// transport error.
func exchange(t testing.TB, network, server string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	if opt := m.IsEdns0(); opt != nil {
		c.UDPSize = opt.UDPSize()
	}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("%s query %s %s: %v", network, m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], err)
	}
	if r.Id != m.Id {
		t.Fatalf("reply ID %d, query ID %d", r.Id, m.Id)
	}
	return r
}

// rrTexts renders records as "TYPE rdata", sorted, OPT left out, so that
// sets compare regardless of order and owner name.
func rrTexts(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, dns.TypeToString[h.Rrtype]+" "+strings.TrimPrefix(rr.String(), h.String()))
	}
	slices.Sort(out)
	return out
}

func hasSOA(rrs []dns.RR) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeSOA {
			return true
		}
	}
	return false
}

// --- a ResponseWriter for driving ServeDNS without sockets ---

type fakeWriter struct {
	remote  net.Addr
	scratch []byte // reused packing buffer
	last    []byte // the last packed reply, within scratch
}

func newFakeWriter(udp bool) *fakeWriter {
	if udp {
		return &fakeWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}}
	}
	return &fakeWriter{remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}}
}

func (w *fakeWriter) LocalAddr() net.Addr  { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *fakeWriter) RemoteAddr() net.Addr { return w.remote }

// WriteMsg packs like the real writer does, into a reused buffer so a
// benchmark measures the server rather than this fake.
func (w *fakeWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.PackBuffer(w.scratch)
	if err != nil {
		return err
	}
	w.scratch, w.last = b[:cap(b)], b
	return nil
}

func (w *fakeWriter) Write(b []byte) (int, error) {
	w.last = append([]byte(nil), b...)
	return len(b), nil
}
func (w *fakeWriter) Close() error        { return nil }
func (w *fakeWriter) TsigStatus() error   { return nil }
func (w *fakeWriter) TsigTimersOnly(bool) {}
func (w *fakeWriter) Hijack()             {}

// reply unpacks the last reply as a client would see it.
func (w *fakeWriter) reply(t testing.TB) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(w.last); err != nil {
		t.Fatalf("unpack reply: %v", err)
	}
	return m
}

// serveDirect runs one query through ServeDNS as if it came over UDP.
func serveDirect(t testing.TB, s *Server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	w := newFakeWriter(true)
	s.ServeDNS(w, query(name, qtype))
	return w.reply(t)
}

// newTestServer builds a Server that is never started, for ServeDNS tests.
func newTestServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	return s
}
