package dnsproxy

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// UpstreamsFromResolvConf reads the nameserver lines of a resolv.conf file
// and returns them as host:53 addresses, in file order, without duplicates.
// A file without nameserver lines gives an empty list and no error.
//
// Every address is kept, loopback ones included: on a host running
// systemd-resolved the only nameserver is its stub 127.0.0.53, which the
// agent, on the host network, can use. A caller that must not forward to the
// stub (say, because the stub forwards back to this server) asks for that by
// passing the result through WithoutResolvedStub, or reads the stub's own
// upstreams from /run/systemd/resolve/resolv.conf instead.
func UpstreamsFromResolvConf(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dnsproxy: %w", err)
	}
	defer f.Close()

	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		// ParseAddr accepts a zone ("fe80::1%eth0"), which link-local
		// resolvers need.
		addr, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue // glibc ignores such lines too
		}
		hp := net.JoinHostPort(addr.Unmap().String(), "53")
		if !slices.Contains(out, hp) {
			out = append(out, hp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dnsproxy: read %s: %w", path, err)
	}
	return out, nil
}

// resolvedStubs are systemd-resolved's local listeners: the stub resolver
// and, since systemd 247, the proxy-only stub.
var resolvedStubs = []netip.Addr{
	netip.MustParseAddr("127.0.0.53"),
	netip.MustParseAddr("127.0.0.54"),
}

// WithoutResolvedStub returns upstreams without systemd-resolved's local
// stub addresses; other loopback resolvers (a dnsmasq on 127.0.0.1) stay.
func WithoutResolvedStub(upstreams []string) []string {
	out := make([]string, 0, len(upstreams))
	for _, u := range upstreams {
		host, _, err := net.SplitHostPort(u)
		if err == nil {
			if addr, err := netip.ParseAddr(host); err == nil && slices.Contains(resolvedStubs, addr) {
				continue
			}
		}
		out = append(out, u)
	}
	return out
}
