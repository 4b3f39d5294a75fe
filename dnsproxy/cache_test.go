package dnsproxy

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func answerMsg(rcode int, answer, ns []string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion("example.org.", dns.TypeA)
	m.Response = true
	m.Rcode = rcode
	for _, s := range answer {
		m.Answer = append(m.Answer, mustRR(s))
	}
	for _, s := range ns {
		m.Ns = append(m.Ns, mustRR(s))
	}
	return m
}

func TestCacheTTL(t *testing.T) {
	for _, tc := range []struct {
		desc string
		msg  *dns.Msg
		want time.Duration // 0: not cached
	}{
		{"smallest TTL of the answer",
			answerMsg(dns.RcodeSuccess, []string{"example.org. 60 IN A 192.0.2.1", "example.org. 20 IN A 192.0.2.2"}, nil), 20 * time.Second},
		{"positive cap",
			answerMsg(dns.RcodeSuccess, []string{"example.org. 86400 IN A 192.0.2.1"}, nil), maxPositiveTTL},
		{"zero TTL",
			answerMsg(dns.RcodeSuccess, []string{"example.org. 0 IN A 192.0.2.1"}, nil), 0},
		{"NXDOMAIN: SOA minimum",
			answerMsg(dns.RcodeNameError, nil, []string{"example.org. 3600 IN SOA ns. host. 1 7200 1800 86400 10"}), 10 * time.Second},
		{"NXDOMAIN: SOA TTL when lower than the minimum",
			answerMsg(dns.RcodeNameError, nil, []string{"example.org. 5 IN SOA ns. host. 1 7200 1800 86400 20"}), 5 * time.Second},
		{"negative cap",
			answerMsg(dns.RcodeNameError, nil, []string{"example.org. 3600 IN SOA ns. host. 1 7200 1800 86400 3600"}), maxNegativeTTL},
		{"NODATA: SOA minimum",
			answerMsg(dns.RcodeSuccess, nil, []string{"example.org. 3600 IN SOA ns. host. 1 7200 1800 86400 15"}), 15 * time.Second},
		{"denial without SOA", answerMsg(dns.RcodeNameError, nil, nil), 0},
		{"SERVFAIL", answerMsg(dns.RcodeServerFailure, nil, nil), 0},
		{"truncated", func() *dns.Msg {
			m := answerMsg(dns.RcodeSuccess, []string{"example.org. 60 IN A 192.0.2.1"}, nil)
			m.Truncated = true
			return m
		}(), 0},
	} {
		got, ok := cacheTTL(tc.msg)
		if !ok {
			got = 0
		}
		if got != tc.want {
			t.Errorf("%s: %v, want %v", tc.desc, got, tc.want)
		}
	}
}

func TestCacheExpiryAndAging(t *testing.T) {
	c := newCache(10)
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	k := cacheKey{name: "example.org.", qtype: dns.TypeA, qclass: dns.ClassINET}
	c.put(k, answerMsg(dns.RcodeSuccess, []string{"example.org. 60 IN A 192.0.2.1", "example.org. 90 IN A 192.0.2.2"}, nil))

	now = now.Add(25 * time.Second)
	m := c.get(k)
	if m == nil {
		t.Fatal("miss before expiry")
	}
	if a, b := m.Answer[0].Header().Ttl, m.Answer[1].Header().Ttl; a != 35 || b != 65 {
		t.Errorf("TTLs %d and %d after 25 s, want 35 and 65", a, b)
	}
	// The copy handed out is private: changing it does not change the cache.
	m.Answer[0].Header().Ttl = 9999
	if again := c.get(k); again.Answer[0].Header().Ttl != 35 {
		t.Errorf("cache entry changed through a returned copy: TTL %d", again.Answer[0].Header().Ttl)
	}

	now = now.Add(35 * time.Second) // 60 s after storing
	if c.get(k) != nil {
		t.Error("hit after the smallest TTL elapsed")
	}
	if c.len() != 0 {
		t.Errorf("expired entry kept: %d entries", c.len())
	}

	// Other keys miss; the DO bit is part of the key.
	c.put(k, answerMsg(dns.RcodeSuccess, []string{"example.org. 60 IN A 192.0.2.1"}, nil))
	withDO := k
	withDO.do = true
	if c.get(withDO) != nil {
		t.Error("DO query served from a non-DO entry")
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newCache(2)
	key := func(name string) cacheKey { return cacheKey{name: name, qtype: dns.TypeA, qclass: dns.ClassINET} }
	msg := answerMsg(dns.RcodeSuccess, []string{"example.org. 60 IN A 192.0.2.1"}, nil)
	c.put(key("a."), msg)
	c.put(key("b."), msg)
	c.get(key("a.")) // a is now more recent than b
	c.put(key("c."), msg)
	if c.len() != 2 {
		t.Fatalf("%d entries, want 2", c.len())
	}
	if c.get(key("b.")) != nil {
		t.Error("b should have been evicted")
	}
	if c.get(key("a.")) == nil || c.get(key("c.")) == nil {
		t.Error("a and c should be cached")
	}
}

func TestCacheNil(t *testing.T) {
	c := newCache(0)
	if c != nil {
		t.Fatal("size 0 should disable the cache")
	}
	c.put(cacheKey{}, answerMsg(dns.RcodeSuccess, []string{"example.org. 60 IN A 192.0.2.1"}, nil))
	if c.get(cacheKey{}) != nil || c.len() != 0 {
		t.Error("a nil cache returned something")
	}
}
