package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// masqMark marks packets a pod sends to itself through a Service (the
// hairpin case): they are masqueraded on the way out, or the pod would
// answer itself directly and drop the reply.
const masqMark = 0x4000

// NFTables programs Services with nftables, for kernels without IPVS. Each
// sync replaces its table in one netlink batch (add, delete, add: atomic,
// whether the table existed or not), so nothing stale survives a sync:
//
//	filter-prerouting/filter-output (filter, before NAT) -> no-endpoints:
//	    a Service port without a ready endpoint: TCP reset / ICMP port
//	    unreachable at once
//	nat-prerouting/nat-output (dstnat) -> services:
//	    ip daddr VIP l4proto P th dport PORT jump svc-<hash>
//	    fib daddr type local -> nodeports: l4proto P th dport NODEPORT jump svc-<hash>
//	svc-<hash>: ClientIP affinity first (ip saddr @aff-<hash>-<i> goto ep-<hash>-<i>),
//	    then numgen random mod N vmap { i : goto ep-<hash>-<i> }
//	ep-<hash>-<i>: mark hairpin traffic, remember the client for affinity,
//	    dnat to IP:PORT
//	nat-postrouting (srcnat): masquerade marked packets
type NFTables struct {
	// Table names the table (family ip); agents sharing a host need
	// different ones.
	Table string
	// NetNSFd, when not 0, programs another network namespace (tests).
	NetNSFd int
}

func (b *NFTables) Name() string { return "nftables" }

func (b *NFTables) conn() (*nftables.Conn, error) {
	if b.NetNSFd != 0 {
		return nftables.New(nftables.WithNetNSFd(b.NetNSFd))
	}
	return nftables.New()
}

// Sync replaces the table with one programming st.
func (b *NFTables) Sync(st State) error {
	c, err := b.conn()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := &nftables.Table{Name: b.Table, Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	p := &program{c: c, t: t}
	if err := p.build(st); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: programming table %s (%d service ports): %w", b.Table, len(st.Services), err)
	}
	return nil
}

// Cleanup removes the table.
func (b *NFTables) Cleanup() error {
	c, err := b.conn()
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: b.Table, Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t)
	return c.Flush()
}

// program builds one table's content in a batch.
type program struct {
	c *nftables.Conn
	t *nftables.Table
}

func (p *program) chain(name string) *nftables.Chain {
	return p.c.AddChain(&nftables.Chain{Name: name, Table: p.t})
}

func (p *program) base(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio int32) *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return p.c.AddChain(&nftables.Chain{Name: name, Table: p.t, Type: typ, Hooknum: hook,
		Priority: nftables.ChainPriorityRef(nftables.ChainPriority(prio)), Policy: &accept})
}

func (p *program) rule(ch *nftables.Chain, exprs ...expr.Any) {
	p.c.AddRule(&nftables.Rule{Table: p.t, Chain: ch, Exprs: exprs})
}

func (p *program) build(st State) error {
	services := p.chain("services")
	nodePorts := p.chain("nodeports")
	noEndpoints := p.chain("no-endpoints")
	// Filter before DNAT (-110 < -100): a Service port without endpoints
	// is refused instead of left to time out.
	for _, hook := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"filter-prerouting", nftables.ChainHookPrerouting}, {"filter-output", nftables.ChainHookOutput}} {
		p.rule(p.base(hook.name, nftables.ChainTypeFilter, hook.hook, -110), jump(noEndpoints.Name))
	}
	for _, hook := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"nat-prerouting", nftables.ChainHookPrerouting}, {"nat-output", nftables.ChainHookOutput}} {
		p.rule(p.base(hook.name, nftables.ChainTypeNAT, hook.hook, -100), jump(services.Name))
	}
	post := p.base("nat-postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, 100)
	p.rule(post, append(markSet(false), &expr.Masq{})...)

	for _, sp := range st.Services {
		h := shortHash(sp.Key)
		match := append(daddr(sp.ClusterIP.AsSlice()), l4port(sp.Protocol, sp.Port)...)
		if len(sp.Endpoints) == 0 {
			p.rule(noEndpoints, append(match, reject(sp.Protocol))...)
			if sp.NodePort != 0 {
				p.rule(noEndpoints, append(append(localDaddr(), l4port(sp.Protocol, sp.NodePort)...), reject(sp.Protocol))...)
			}
			continue
		}
		svc := p.chain("svc-" + h)
		p.rule(services, append(match, jump(svc.Name))...)
		if sp.NodePort != 0 {
			p.rule(nodePorts, append(l4port(sp.Protocol, sp.NodePort), jump(svc.Name))...)
		}
		if err := p.service(svc, h, sp); err != nil {
			return err
		}
	}
	// Node ports last: only what no cluster IP claimed, and only to this
	// host's own addresses.
	p.rule(services, append(localDaddr(), jump(nodePorts.Name))...)
	return nil
}

// service fills a Service port's chain and its endpoints' chains.
func (p *program) service(svc *nftables.Chain, h string, sp ServicePort) error {
	eps := make([]*nftables.Chain, len(sp.Endpoints))
	var affinity []*nftables.Set
	for i := range sp.Endpoints {
		eps[i] = p.chain(fmt.Sprintf("ep-%s-%d", h, i))
		if sp.Affinity > 0 {
			set := &nftables.Set{Table: p.t, Name: fmt.Sprintf("aff-%s-%d", h, i), KeyType: nftables.TypeIPAddr,
				HasTimeout: true, Dynamic: true, Timeout: sp.Affinity}
			if err := p.c.AddSet(set, nil); err != nil {
				return fmt.Errorf("nftables: affinity set of %s: %w", sp.Key, err)
			}
			affinity = append(affinity, set)
			p.rule(svc, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
				&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
				&expr.Verdict{Kind: expr.VerdictGoto, Chain: eps[i].Name})
		}
	}
	vmap := &nftables.Set{Table: p.t, Anonymous: true, Constant: true, IsMap: true,
		KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict}
	elems := make([]nftables.SetElement, len(eps))
	for i, ch := range eps {
		elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)),
			VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: ch.Name}}
	}
	if err := p.c.AddSet(vmap, elems); err != nil {
		return fmt.Errorf("nftables: endpoint map of %s: %w", sp.Key, err)
	}
	p.rule(svc, &expr.Numgen{Register: 1, Modulus: uint32(len(eps)), Type: unix.NFT_NG_RANDOM},
		&expr.Lookup{SourceRegister: 1, SetName: vmap.Name, SetID: vmap.ID, DestRegister: 0, IsDestRegSet: true})
	for i, ep := range sp.Endpoints {
		ip := ep.IP.AsSlice()
		// Hairpin: the endpoint itself connecting to its Service.
		p.rule(eps[i], append(saddr(ip), markSet(true)...)...)
		if affinity != nil {
			p.rule(eps[i], &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
				&expr.Dynset{SrcRegKey: 1, SetName: affinity[i].Name, SetID: affinity[i].ID,
					Operation: uint32(unix.NFT_DYNSET_OP_UPDATE), Timeout: sp.Affinity})
		}
		p.rule(eps[i], append(l4proto(sp.Protocol),
			&expr.Immediate{Register: 1, Data: ip},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(ep.Port)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true})...)
	}
	return nil
}

func shortHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:6])
}

func jump(chain string) *expr.Verdict { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

func daddr(ip []byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip},
	}
}

func saddr(ip []byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip},
	}
}

func protoNumber(p corev1.Protocol) byte {
	if p == corev1.ProtocolUDP {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

func l4proto(p corev1.Protocol) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumber(p)}},
	}
}

func l4port(p corev1.Protocol, port uint16) []expr.Any {
	return append(l4proto(p),
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)})
}

// localDaddr matches packets to one of this host's own addresses.
func localDaddr() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// markSet sets masqMark (set) or matches packets carrying it (!set).
func markSet(set bool) []expr.Any {
	if !set {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(masqMark), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		}
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^uint32(masqMark)), Xor: binaryutil.NativeEndian.PutUint32(masqMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}

func reject(p corev1.Protocol) expr.Any {
	if p == corev1.ProtocolTCP {
		return &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}
	}
	return &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3} // ICMP port unreachable
}
