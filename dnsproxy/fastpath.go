package dnsproxy

import (
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// The fast path answers the queries that make up almost all of a cluster's
// DNS traffic — the same few service names, asked again and again — from
// packed replies, without unpacking the query, packing the answer or
// starting a goroutine for it. A reply is packed by the normal path the
// first time, kept while the table does not change, and sent again with
// the query's ID. Only plain queries qualify: UDP, one question, no EDNS
// or other records, a lower-case name of letters, digits, '-' and '_'.
// Everything else, and every miss, takes the normal path.

// maxFastAnswers bounds the packed replies kept; past it, new names are
// simply not added until the table changes.
const maxFastAnswers = 10000

// fastKey is a question as it appears on the wire, with the header bits a
// reply echoes (RD, CD).
type fastKey struct {
	name          string // wire format
	qtype, qclass uint16
	rd, cd        bool
}

// fastAnswers holds packed replies (ID 0) valid for one table generation.
type fastAnswers struct {
	table *Table

	mu  sync.RWMutex
	gen uint64
	m   map[fastKey][]byte
}

func newFastAnswers(t *Table) *fastAnswers {
	return &fastAnswers{table: t, m: map[fastKey][]byte{}}
}

// parseFast reads a plain query's question; ok is false for anything the
// fast path does not answer.
func parseFast(q []byte) (k fastKey, ok bool) {
	if len(q) < 12+1+4 {
		return k, false
	}
	// QR=0, opcode QUERY, no TC; QDCOUNT 1, the other counts 0.
	if q[2]&0xfa != 0 || binary.BigEndian.Uint16(q[4:]) != 1 || binary.BigEndian.Uint32(q[6:]) != 0 || binary.BigEndian.Uint16(q[10:]) != 0 {
		return k, false
	}
	i := 12
	for {
		if i >= len(q) {
			return k, false
		}
		l := int(q[i])
		if l == 0 {
			i++
			break
		}
		if l > 63 || i+1+l > len(q) {
			return k, false // a compression pointer or a truncated label
		}
		for _, c := range q[i+1 : i+1+l] {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return k, false
			}
		}
		i += 1 + l
	}
	if i+4 != len(q) || i-12 > 255 {
		return k, false
	}
	k.name = string(q[12:i])
	k.qtype, k.qclass = binary.BigEndian.Uint16(q[i:]), binary.BigEndian.Uint16(q[i+2:])
	k.rd, k.cd = q[2]&0x01 != 0, q[3]&0x10 != 0
	return k, true
}

// answer writes into out the packed reply to q, when there is one, and
// returns it.
func (f *fastAnswers) answer(q, out []byte) ([]byte, bool) {
	k, ok := parseFast(q)
	if !ok {
		return nil, false
	}
	gen := f.table.gen.Load()
	f.mu.RLock()
	r, hit := f.m[k]
	hit = hit && f.gen == gen
	f.mu.RUnlock()
	if !hit {
		return nil, false
	}
	out = append(out[:0], r...)
	out[0], out[1] = q[0], q[1]
	return out, true
}

// store keeps resp, the reply to req packed by the normal path from the
// table at generation gen, if req is a plain query.
func (f *fastAnswers) store(req, resp *dns.Msg, gen uint64) {
	if resp.Truncated {
		return
	}
	// The key is read from the query as it is on the wire, by the same
	// parser the fast path uses (which also refuses anything but a plain
	// query): what is stored is what it will find.
	query, err := req.Pack()
	if err != nil {
		return
	}
	k, ok := parseFast(query)
	if !ok {
		return
	}
	raw, err := resp.Pack()
	if err != nil {
		return
	}
	raw[0], raw[1] = 0, 0
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.table.gen.Load() != gen {
		return // the table moved on while resp was made
	}
	if f.gen != gen {
		f.gen, f.m = gen, map[fastKey][]byte{}
	}
	if len(f.m) < maxFastAnswers {
		f.m[k] = raw
	}
}

// fastReader reads a UDP socket for a dns.Server, answering the queries
// the fast path knows itself and passing the others on.
type fastReader struct {
	dns.Reader
	fast     *fastAnswers
	buf, out []byte
	deadline time.Time
	// wildcard: the socket is bound to every address, so a reply must
	// name its source (the address the query came to); a socket bound to
	// one address answers from it anyway, more cheaply.
	wildcard bool
}

func (r *fastReader) ReadUDP(conn *net.UDPConn, timeout time.Duration) ([]byte, *dns.SessionUDP, error) {
	for {
		// A read deadline, as dns.Server's own reader sets, but moved
		// only when half of it has passed: setting it on every read
		// costs more than answering.
		if now := time.Now(); r.deadline.Sub(now) < timeout/2 {
			r.deadline = now.Add(timeout)
			conn.SetReadDeadline(r.deadline)
		}
		n, sess, err := dns.ReadFromSessionUDP(conn, r.buf)
		if err != nil {
			return nil, nil, err
		}
		if out, ok := r.fast.answer(r.buf[:n], r.out); ok {
			r.out = out
			// A failed write means the client is gone.
			if ua, isUDP := sess.RemoteAddr().(*net.UDPAddr); isUDP && !r.wildcard {
				_, _ = conn.WriteToUDP(out, ua)
			} else {
				_, _ = dns.WriteToSessionUDP(conn, out, sess)
			}
			continue
		}
		return slices.Clone(r.buf[:n]), sess, nil
	}
}
