package dnsproxy

import (
	"container/list"
	"sync"
	"time"

	"github.com/miekg/dns"
)

const (
	// maxPositiveTTL caps how long an answer is kept, whatever its TTL,
	// so that a changed record outside the cluster is seen within minutes.
	maxPositiveTTL = 300 * time.Second
	// maxNegativeTTL caps how long a denial (NXDOMAIN or NODATA) is kept:
	// names being created should not stay missing for long.
	maxNegativeTTL = 30 * time.Second
)

// cacheKey identifies a forwarded question. The name is lower case (DNS
// names are case-insensitive); the DO bit is part of the key because DNSSEC
// records are only in answers to queries that set it.
type cacheKey struct {
	name   string
	qtype  uint16
	qclass uint16
	do     bool
}

type cacheEntry struct {
	key     cacheKey
	msg     *dns.Msg // never modified once stored
	stored  time.Time
	expires time.Time
}

// cache is a size-bounded LRU of upstream answers honouring their TTLs.
type cache struct {
	size int
	now  func() time.Time // replaceable by tests

	mu    sync.Mutex
	items map[cacheKey]*list.Element
	lru   list.List // of *cacheEntry, most recently used first
}

// newCache returns a cache of size entries, or nil (no caching; every
// method accepts a nil cache) when size is not positive.
func newCache(size int) *cache {
	if size <= 0 {
		return nil
	}
	return &cache{size: size, now: time.Now, items: make(map[cacheKey]*list.Element)}
}

// get returns a private copy of the cached answer with TTLs reduced by the
// time spent in the cache, or nil.
func (c *cache) get(k cacheKey) *dns.Msg {
	if c == nil {
		return nil
	}
	now := c.now()
	c.mu.Lock()
	el, ok := c.items[k]
	if !ok {
		c.mu.Unlock()
		return nil
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.items, k)
		c.mu.Unlock()
		return nil
	}
	c.lru.MoveToFront(el)
	c.mu.Unlock()

	// Copy outside the lock: the stored message is immutable.
	m := e.msg.Copy()
	age := uint32(now.Sub(e.stored) / time.Second)
	for _, section := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range section {
			h := rr.Header()
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return m
}

// put stores m under k when it is cacheable; m must not be modified after.
func (c *cache) put(k cacheKey, m *dns.Msg) {
	if c == nil {
		return
	}
	ttl, ok := cacheTTL(m)
	if !ok {
		return
	}
	now := c.now()
	e := &cacheEntry{key: k, msg: m, stored: now, expires: now.Add(ttl)}

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.items[k] = c.lru.PushFront(e)
	if c.lru.Len() > c.size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.items, oldest.Value.(*cacheEntry).key)
	}
}

// len returns the number of entries, expired ones included.
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// cacheTTL says how long m may be cached: positive answers for their
// smallest TTL, denials for the SOA's negative TTL (RFC 2308 5: the lesser
// of the SOA record's TTL and its minimum field), each capped. Truncated
// answers, errors, denials without an SOA and zero TTLs are not cached.
func cacheTTL(m *dns.Msg) (time.Duration, bool) {
	if m.Truncated {
		return 0, false
	}
	var ttl uint32
	var limit time.Duration
	switch {
	case m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0:
		limit = maxPositiveTTL
		first := true
		for _, section := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range section {
				h := rr.Header()
				if h.Rrtype == dns.TypeOPT {
					continue
				}
				if first || h.Ttl < ttl {
					ttl, first = h.Ttl, false
				}
			}
		}
	case m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError:
		limit = maxNegativeTTL
		soa := findSOA(m.Ns)
		if soa == nil {
			return 0, false
		}
		ttl = min(soa.Hdr.Ttl, soa.Minttl)
	default:
		return 0, false
	}
	if ttl == 0 {
		return 0, false
	}
	return min(time.Duration(ttl)*time.Second, limit), true
}

func findSOA(rrs []dns.RR) *dns.SOA {
	for _, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	return nil
}
