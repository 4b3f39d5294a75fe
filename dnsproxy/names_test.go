package dnsproxy

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func TestNormaliseDomain(t *testing.T) {
	for in, want := range map[string]string{
		"cluster.local":   "cluster.local.",
		"Cluster.Local.":  "cluster.local.",
		" cluster.local ": "cluster.local.",
		"":                "cluster.local.",
		"k8s.example":     "k8s.example.",
	} {
		if got := normaliseDomain(in); got != want {
			t.Errorf("normaliseDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHasLabelSuffix(t *testing.T) {
	const zone = "cluster.local."
	for name, want := range map[string]bool{
		"cluster.local.":                  true,
		"a.cluster.local.":                true,
		"a.b.svc.cluster.local.":          true,
		"mycluster.local.":                false,
		`a\.cluster.local.`:               false, // the label is "a.cluster"
		`a\\.cluster.local.`:              true,  // an escaped backslash, then a real dot
		"local.":                          false,
		"cluster.local.example.":          false,
		`\000.default.svc.cluster.local.`: true,
	} {
		if got := hasLabelSuffix(name, zone); got != want {
			t.Errorf("hasLabelSuffix(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestIsDNSLabel(t *testing.T) {
	for s, want := range map[string]bool{
		"db-0": true, "a": true, "0": true, "a--b": true,
		"": false, "-a": false, "a-": false, "A": false, "a_b": false, "a.b": false,
		"a23456789012345678901234567890123456789012345678901234567890123":  true,
		"a234567890123456789012345678901234567890123456789012345678901234": false,
	} {
		if got := isDNSLabel(s); got != want {
			t.Errorf("isDNSLabel(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestDashedIP(t *testing.T) {
	for ip, want := range map[string]string{
		"10.244.1.5":        "10-244-1-5",
		"fd00::1":           "fd00--1",
		"::ffff:10.0.0.1":   "10-0-0-1",
		"fe80::1%eth0":      "fe80--1",
		"2001:db8:0:1::a:b": "2001-db8-0-1--a-b",
	} {
		if got := dashedIP(netip.MustParseAddr(ip)); got != want {
			t.Errorf("dashedIP(%s) = %q, want %q", ip, got, want)
		}
	}
}

func TestReverseNameMatchesMiekg(t *testing.T) {
	for _, ip := range []string{"10.96.0.10", "192.0.2.255", "0.0.0.0", "fd00::20", "2001:db8::1", "::ffff:10.1.2.3"} {
		want, err := dns.ReverseAddr(netip.MustParseAddr(ip).Unmap().String())
		if err != nil {
			t.Fatal(err)
		}
		if got := reverseName(netip.MustParseAddr(ip)); got != want {
			t.Errorf("reverseName(%s) = %q, want %q", ip, got, want)
		}
		if !isReverseName(want) {
			t.Errorf("isReverseName(%q) = false", want)
		}
	}
	if isReverseName("in-addr.arpa.example.") {
		t.Error("isReverseName matched a name outside the reverse zones")
	}
}
