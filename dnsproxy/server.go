package dnsproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

const (
	// defaultCacheSize is the number of forwarded answers cached when
	// Config.CacheSize is zero.
	defaultCacheSize = 10000
	// advertisedUDPSize is the EDNS0 payload size this server offers
	// clients and asks of upstreams: the DNS Flag Day 2020 value, which
	// avoids IP fragmentation on any common path.
	advertisedUDPSize = 1232
	// maxQuerySize is the UDP read buffer: large enough for any query with
	// EDNS options (cookies, padding), far below a reply's size.
	maxQuerySize = dns.DefaultMsgSize
)

// Config configures a Server.
type Config struct {
	Addr      string   // host:port, served on both UDP and TCP (e.g. "127.0.0.1:0" in tests); "" means ":53"
	Domain    string   // cluster domain; "" means the Table's (which defaults to "cluster.local")
	TTL       uint32   // TTL of cluster answers and the SOA minimum, default 5; set on the Table, so servers sharing one share it
	Upstreams []string // host:port of resolvers for everything outside the cluster domain; empty = answer REFUSED for those
	// CacheSize is the number of forwarded answers cached (default 10000;
	// negative disables the cache). Answers are kept for their smallest
	// TTL (at most 300 s); negative answers for the SOA minimum (at most 30 s).
	CacheSize int
	Table     *Table
	Logger    *slog.Logger // default slog.Default(); nothing is logged per query
}

// Server is the cluster DNS server: it answers the cluster domain from a
// Table and forwards everything else.
type Server struct {
	table  *Table
	domain string
	fwd    *forwarder // nil without upstreams
	fast   *fastAnswers
	listen string
	log    *slog.Logger

	closing atomic.Bool // set while shutting down, to tell expected listener errors from real ones

	mu   sync.Mutex
	udp  []*dns.Server // one per CPU, sharing the port (SO_REUSEPORT)
	tcp  *dns.Server
	addr string
}

// NewServer checks cfg and prepares a server; Start makes it listen.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Table == nil {
		return nil, errors.New("dnsproxy: Config.Table is required")
	}
	domain := cfg.Table.domain
	if cfg.Domain != "" && normaliseDomain(cfg.Domain) != domain {
		return nil, fmt.Errorf("dnsproxy: Config.Domain %q differs from the Table's domain %q", cfg.Domain, domain)
	}
	if _, ok := dns.IsDomainName(domain); !ok || domain == "." {
		return nil, fmt.Errorf("dnsproxy: invalid cluster domain %q", domain)
	}
	upstreams := make([]string, 0, len(cfg.Upstreams))
	for _, u := range cfg.Upstreams {
		hp, err := upstreamAddr(u)
		if err != nil {
			return nil, err
		}
		upstreams = append(upstreams, hp)
	}
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = defaultTTL
	}
	cacheSize := cfg.CacheSize
	if cacheSize == 0 {
		cacheSize = defaultCacheSize
	}
	listen := cfg.Addr
	if listen == "" {
		listen = ":53"
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return nil, fmt.Errorf("dnsproxy: Config.Addr: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}

	cfg.Table.setTTL(ttl)
	s := &Server{table: cfg.Table, domain: domain, listen: listen, log: log, fast: newFastAnswers(cfg.Table)}
	if len(upstreams) > 0 {
		s.fwd = newForwarder(upstreams, cacheSize)
	}
	return s, nil
}

// upstreamAddr checks an upstream's host:port; a bare IP address gets port 53.
func upstreamAddr(u string) (string, error) {
	if addr, err := netip.ParseAddr(u); err == nil {
		return net.JoinHostPort(addr.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(u)
	if err != nil || host == "" {
		return "", fmt.Errorf("dnsproxy: upstream %q is not host:port", u)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("dnsproxy: upstream %q has an invalid port", u)
	}
	return u, nil
}

// Start binds the UDP and TCP listeners on the same port and returns once
// both are serving.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp != nil {
		return errors.New("dnsproxy: server already started")
	}
	pcs, ln, err := listenPair(s.listen, runtime.GOMAXPROCS(0))
	if err != nil {
		return fmt.Errorf("dnsproxy: listen on %s: %w", s.listen, err)
	}
	s.closing.Store(false)

	// A UDP socket per CPU: one socket's single read loop, not the
	// handler, is what limits a server's queries per second.
	var udp []*dns.Server
	for _, pc := range pcs {
		udp = append(udp, &dns.Server{PacketConn: pc, Handler: s, UDPSize: maxQuerySize, MsgAcceptFunc: acceptQuery,
			DecorateReader: func(r dns.Reader) dns.Reader {
				ua, _ := pc.LocalAddr().(*net.UDPAddr)
				return &fastReader{Reader: r, fast: s.fast, buf: make([]byte, maxQuerySize), out: make([]byte, 0, 512),
					wildcard: ua == nil || ua.IP.IsUnspecified()}
			}})
	}
	tcp := &dns.Server{Listener: ln, Handler: s, MsgAcceptFunc: acceptQuery}
	all := append(slices.Clone(udp), tcp)
	started := make(chan struct{}, len(all))
	done := make(chan error, len(all))
	for _, srv := range all {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		go func() {
			err := srv.ActivateAndServe()
			if err != nil && !s.closing.Load() {
				s.log.Error("cluster DNS listener stopped", "err", err)
			}
			done <- err
		}()
	}
	for range all {
		select {
		case <-started:
		case err := <-done:
			// One loop ended before serving. Closing the sockets ends
			// the others; their goroutines exit into the buffered channel.
			s.closing.Store(true)
			for _, pc := range pcs {
				pc.Close()
			}
			ln.Close()
			return fmt.Errorf("dnsproxy: serve on %s: %w", s.listen, err)
		}
	}
	s.udp, s.tcp = udp, tcp
	s.addr = pcs[0].LocalAddr().String()
	s.log.Info("cluster DNS serving", "addr", s.addr, "domain", s.domain, "forwarding", s.fwd != nil)
	return nil
}

// listenPair binds n UDP sockets (SO_REUSEPORT) and a TCP listener on one
// port. With port 0 the kernel picks the UDP port, which may be taken for
// TCP; a few tries find a free pair.
func listenPair(addr string, n int) ([]net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		return errors.Join(err, serr)
	}}
	closeAll := func(pcs []net.PacketConn) {
		for _, pc := range pcs {
			pc.Close()
		}
	}
	tries := 1
	if port == "0" {
		tries = 10
	}
	var lastErr error
	for range tries {
		first, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			return nil, nil, err
		}
		pcs := []net.PacketConn{first}
		bound := net.JoinHostPort(host, strconv.Itoa(first.LocalAddr().(*net.UDPAddr).Port))
		for len(pcs) < max(n, 1) {
			pc, err := lc.ListenPacket(context.Background(), "udp", bound)
			if err != nil {
				closeAll(pcs)
				return nil, nil, err
			}
			pcs = append(pcs, pc)
		}
		ln, err := net.Listen("tcp", bound)
		if err == nil {
			return pcs, ln, nil
		}
		closeAll(pcs)
		lastErr = err
	}
	return nil, nil, lastErr
}

// Addr returns the bound address (with the real port when Config.Addr asked
// for port 0), or "" when the server is not running.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops both listeners and waits, within ctx, for in-flight queries
// to finish. It does nothing when the server is not running.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil {
		return nil
	}
	s.closing.Store(true)
	errs := []error{s.tcp.ShutdownContext(ctx)}
	for _, u := range s.udp {
		errs = append(errs, u.ShutdownContext(ctx))
	}
	err := errors.Join(errs...)
	s.udp, s.tcp, s.addr = nil, nil, ""
	if err != nil {
		return fmt.Errorf("dnsproxy: shutdown: %w", err)
	}
	return nil
}

// acceptQuery screens messages before they are parsed. Unlike
// dns.DefaultMsgAcceptFunc it answers NOTIFY with NOTIMP here (this server
// has no zones to transfer) instead of passing it on.
func acceptQuery(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	if dh.Bits&qr != 0 {
		// Never answer a response: that is how reflection loops start.
		return dns.MsgIgnore
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	// One question (RFC 9619); a query carries no answers or authority,
	// and at most an OPT and a TSIG in additional. Rejecting here also
	// bounds the parsing work a hostile packet can cause.
	if dh.Qdcount != 1 || dh.Ancount > 0 || dh.Nscount > 0 || dh.Arcount > 2 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}
