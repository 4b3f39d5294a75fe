package dnsproxy

import (
	"net/netip"
	"strconv"
	"strings"
)

// DefaultDomain is the cluster domain used when none is given.
const DefaultDomain = "cluster.local"

// normaliseDomain turns a user-supplied domain ("Cluster.Local", "cluster.local.")
// into the form the index is keyed by: lower case and fully qualified.
func normaliseDomain(domain string) string {
	domain = strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if domain == "" {
		domain = DefaultDomain
	}
	return strings.ToLower(domain) + "."
}

// lowerName lower-cases an owner name for index look-ups. strings.ToLower
// returns its argument unchanged (no allocation) when it has no upper-case
// ASCII, which is how nearly every query arrives.
func lowerName(name string) string {
	return strings.ToLower(name)
}

// hasLabelSuffix reports whether name (fully qualified, in miekg/dns's
// presentation form) is zone or a name below it. A plain HasSuffix would
// also match "foo\.cluster.local.", whose last labels are "foo.cluster" and
// "local": the dot before the suffix must not be escaped.
func hasLabelSuffix(name, zone string) bool {
	if name == zone {
		return true
	}
	if len(name) <= len(zone) || !strings.HasSuffix(name, zone) {
		return false
	}
	dot := len(name) - len(zone) - 1
	if name[dot] != '.' {
		return false
	}
	// The dot is escaped when an odd number of backslashes precede it.
	backslashes := 0
	for i := dot - 1; i >= 0 && name[i] == '\\'; i-- {
		backslashes++
	}
	return backslashes%2 == 0
}

// isDNSLabel reports whether s is an RFC 1123 label in lower case: what
// Kubernetes allows for endpoint hostnames and (a subset) for port names.
// The table checks again rather than trusting the API server so that a
// malformed object can never put a name with escapes or dots in a label
// into the index: such hostnames fall back to the dashed-IP form and such
// ports get no SRV name.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i != 0 && i != len(s)-1:
		default:
			return false
		}
	}
	return true
}

// dashedIP is the label Kubernetes DNS uses for an address: 10.1.2.3 becomes
// "10-1-2-3"; an IPv6 address has its colons replaced, as CoreDNS does
// ("fd00::1" becomes "fd00--1").
func dashedIP(addr netip.Addr) string {
	addr = addr.Unmap()
	s := addr.WithZone("").String()
	if addr.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	return strings.ReplaceAll(s, ":", "-")
}

// reverseName is the in-addr.arpa or ip6.arpa owner name of addr, the same
// spelling dns.ReverseAddr produces, built from the bytes so there is no
// error path for an address that is already parsed.
func reverseName(addr netip.Addr) string {
	const hex = "0123456789abcdef"
	addr = addr.Unmap()
	b := addr.AsSlice()
	var sb strings.Builder
	if addr.Is4() {
		sb.Grow(len("255.255.255.255.in-addr.arpa."))
		for i := len(b) - 1; i >= 0; i-- {
			sb.WriteString(strconv.Itoa(int(b[i])))
			sb.WriteByte('.')
		}
		sb.WriteString("in-addr.arpa.")
		return sb.String()
	}
	sb.Grow(len(b)*4 + len("ip6.arpa."))
	for i := len(b) - 1; i >= 0; i-- {
		sb.WriteByte(hex[b[i]&0x0f])
		sb.WriteByte('.')
		sb.WriteByte(hex[b[i]>>4])
		sb.WriteByte('.')
	}
	sb.WriteString("ip6.arpa.")
	return sb.String()
}

// isReverseName reports whether lname (lower case) is inside a reverse zone.
func isReverseName(lname string) bool {
	return hasLabelSuffix(lname, "in-addr.arpa.") || hasLabelSuffix(lname, "ip6.arpa.")
}

// serviceName is "<svc>.<ns>.svc.<domain>" with domain already normalised.
func serviceName(namespace, name, domain string) string {
	return name + "." + namespace + ".svc." + domain
}

// podName is "<a-b-c-d>.<ns>.pod.<domain>".
func podName(addr netip.Addr, namespace, domain string) string {
	return dashedIP(addr) + "." + namespace + ".pod." + domain
}

// srvName is "_<port>._<proto>.<owner>".
func srvName(port, proto, owner string) string {
	return "_" + port + "._" + proto + "." + owner
}
