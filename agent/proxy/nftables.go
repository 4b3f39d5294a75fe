package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// NFTables programs Services with nftables, for kernels without IPVS. Each
// sync replaces its table in one netlink batch (add, delete, add: atomic,
// whether the table existed or not), so nothing stale survives a sync.
//
// Per-service state lives in set elements, not in chains and rules: the
// kernel handles a hundred thousand elements in a batch far faster than
// as many rules, and finds sets by name in a list (thousands of
// per-service sets made a sync quadratic).
//
//	filter-prerouting/filter-output (filter, before NAT): a Service port in
//	    @no-endpoints gets a TCP reset / ICMP port unreachable at once
//	nat-prerouting/nat-output (dstnat) -> services:
//	    ip daddr . l4proto . th dport vmap @service-ips
//	    fib daddr type local: l4proto . th dport vmap @node-ports
//	    (goto pick-<N> / node-port-pick-<N>; N: the port's endpoints)
//	pick-<N>: dnat to ip daddr . l4proto . th dport . numgen random mod N
//	    map @endpoints (the N endpoints of each port at 0..N-1);
//	    node-port-pick-<N> likewise with l4proto . th dport . numgen and
//	    @node-port-endpoints
//	ClientIP affinity: a chain per such port, endpoint chains remembering
//	    clients in a timed set each
//	nat-postrouting (srcnat): masquerade hairpin traffic (a pod reaching
//	    itself through its Service: ip saddr . ip daddr @hairpin) and node
//	    port traffic (marked 0x4000 in node-port-pick-<N>)
type NFTables struct {
	// Table names the table (family ip).
	Table string
	// NetNSFd, when not 0, programs another network namespace (tests).
	NetNSFd int
}

func (b *NFTables) Name() string { return "nftables" }

// batchBuffer bounds the netlink socket's buffers: a sync is one batch
// (one sendmsg), and every message in it is acknowledged, so both grow
// with the number of services. It is a limit, not an allocation; setting
// it needs CAP_NET_ADMIN (SO_SNDBUFFORCE), which the proxy has anyway.
const batchBuffer = 1 << 30

func (b *NFTables) conn() (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(func(c *netlink.Conn) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		err = rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, batchBuffer)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, batchBuffer)
			}
		})
		return errors.Join(err, serr)
	})}
	if b.NetNSFd != 0 {
		opts = append(opts, nftables.WithNetNSFd(b.NetNSFd))
	}
	return nftables.New(opts...)
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

// elementChunk bounds the elements per netlink message: a message's
// attributes must stay under 64 KiB.
const elementChunk = 512

func (p *program) set(set *nftables.Set, elems []nftables.SetElement) error {
	if err := p.c.AddSet(set, nil); err != nil {
		return fmt.Errorf("nftables: set %s: %w", set.Name, err)
	}
	for len(elems) > 0 {
		n := min(len(elems), elementChunk)
		if err := p.c.SetAddElements(set, elems[:n]); err != nil {
			return fmt.Errorf("nftables: elements of set %s: %w", set.Name, err)
		}
		elems = elems[n:]
	}
	return nil
}

func (p *program) build(st State) error {
	services := p.chain("services")
	concat := nftables.MustConcatSetType
	serviceIPs := &nftables.Set{Table: p.t, Name: "service-ips", IsMap: true, Concatenation: true,
		KeyType: concat(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService), DataType: nftables.TypeVerdict}
	nodePorts := &nftables.Set{Table: p.t, Name: "node-ports", IsMap: true, Concatenation: true,
		KeyType: concat(nftables.TypeInetProto, nftables.TypeInetService), DataType: nftables.TypeVerdict}
	// A node port's endpoints, keyed by the node port itself.
	nodePortEndpoints := &nftables.Set{Table: p.t, Name: "node-port-endpoints", IsMap: true, Concatenation: true,
		KeyType:  concat(nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeMark),
		DataType: concat(nftables.TypeIPAddr, nftables.TypeInetService)}
	endpoints := &nftables.Set{Table: p.t, Name: "endpoints", IsMap: true, Concatenation: true,
		KeyType:  concat(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService, nftables.TypeMark),
		DataType: concat(nftables.TypeIPAddr, nftables.TypeInetService)}
	noEndpoints := &nftables.Set{Table: p.t, Name: "no-endpoints", Concatenation: true,
		KeyType: concat(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)}
	noEndpointPorts := &nftables.Set{Table: p.t, Name: "no-endpoint-node-ports", Concatenation: true,
		KeyType: concat(nftables.TypeInetProto, nftables.TypeInetService)}
	hairpin := &nftables.Set{Table: p.t, Name: "hairpin", Concatenation: true,
		KeyType: concat(nftables.TypeIPAddr, nftables.TypeIPAddr)}

	var ipElems, portElems, npEpElems, epElems, noEpElems, noPortElems, hairpinElems []nftables.SetElement
	pickChains, nodePortPickChains := map[int]*nftables.Chain{}, map[int]*nftables.Chain{}
	seenEndpoint := map[netip.Addr]bool{}
	type affine struct {
		chain *nftables.Chain
		sp    ServicePort
	}
	var affinity []affine
	// A key twice in a set fails the whole batch: keep the first holder.
	// (The API gives an address or node port to one Service, but two
	// watch events can cross: a Service deleted, another given its port.)
	seenKey := map[string]bool{}
	for _, sp := range st.Services {
		key := serviceKey(sp.ClusterIP, sp.Protocol, sp.Port)
		if seenKey[string(key)] {
			continue
		}
		seenKey[string(key)] = true
		if sp.NodePort != 0 {
			if np := "np" + string(portKey(sp.Protocol, sp.NodePort)); seenKey[np] {
				sp.NodePort = 0
			} else {
				seenKey[np] = true
			}
		}
		if len(sp.Endpoints) == 0 {
			noEpElems = append(noEpElems, nftables.SetElement{Key: key})
			if sp.NodePort != 0 {
				noPortElems = append(noPortElems, nftables.SetElement{Key: portKey(sp.Protocol, sp.NodePort)})
			}
			continue
		}
		n := len(sp.Endpoints)
		goTo := func(chains map[int]*nftables.Chain, prefix string) *expr.Verdict {
			if chains[n] == nil {
				chains[n] = p.chain(fmt.Sprintf("%s-%d", prefix, n))
			}
			return &expr.Verdict{Kind: expr.VerdictGoto, Chain: chains[n].Name}
		}
		var to, toNodePort *expr.Verdict
		if sp.Affinity > 0 {
			ch := p.chain("svc-" + shortHash(sp.Key))
			affinity = append(affinity, affine{ch, sp})
			to = &expr.Verdict{Kind: expr.VerdictGoto, Chain: ch.Name}
			toNodePort = to
		} else {
			to = goTo(pickChains, "pick")
			for i, ep := range sp.Endpoints {
				epElems = append(epElems, nftables.SetElement{Key: append(slices.Clone(key), binaryutil.NativeEndian.PutUint32(uint32(i))...),
					Val: endpointValue(ep)})
			}
			if sp.NodePort != 0 {
				toNodePort = goTo(nodePortPickChains, "node-port-pick")
				for i, ep := range sp.Endpoints {
					npEpElems = append(npEpElems, nftables.SetElement{Key: append(portKey(sp.Protocol, sp.NodePort), binaryutil.NativeEndian.PutUint32(uint32(i))...),
						Val: endpointValue(ep)})
				}
			}
		}
		ipElems = append(ipElems, nftables.SetElement{Key: key, VerdictData: to})
		if sp.NodePort != 0 {
			portElems = append(portElems, nftables.SetElement{Key: portKey(sp.Protocol, sp.NodePort), VerdictData: toNodePort})
		}
		for _, ep := range sp.Endpoints {
			if !seenEndpoint[ep.IP] {
				seenEndpoint[ep.IP] = true
				hairpinElems = append(hairpinElems, nftables.SetElement{Key: append(ep.IP.AsSlice(), ep.IP.AsSlice()...)})
			}
		}
	}
	for _, x := range []struct {
		set   *nftables.Set
		elems []nftables.SetElement
	}{{serviceIPs, ipElems}, {nodePorts, portElems}, {nodePortEndpoints, npEpElems}, {endpoints, epElems},
		{noEndpoints, noEpElems}, {noEndpointPorts, noPortElems}, {hairpin, hairpinElems}} {
		if err := p.set(x.set, x.elems); err != nil {
			return err
		}
	}

	// Refused at once, before NAT (-110 < -100).
	for _, hook := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"filter-prerouting", nftables.ChainHookPrerouting}, {"filter-output", nftables.ChainHookOutput}} {
		ch := p.base(hook.name, nftables.ChainTypeFilter, hook.hook, -110)
		// Only a connection's first packet can be refused: every other
		// packet of the host leaves the chain after one conntrack check
		// instead of a set lookup and a route lookup.
		p.rule(ch,
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Verdict{Kind: expr.VerdictAccept})
		for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP} {
			p.rule(ch, append(l4proto(proto),
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
				&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Lookup{SourceRegister: 1, SetName: noEndpoints.Name, SetID: noEndpoints.ID},
				reject(proto))...)
			p.rule(ch, append(append(l4proto(proto), localDaddr()...),
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Lookup{SourceRegister: 1, SetName: noEndpointPorts.Name, SetID: noEndpointPorts.ID},
				reject(proto))...)
		}
	}
	for _, hook := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"nat-prerouting", nftables.ChainHookPrerouting}, {"nat-output", nftables.ChainHookOutput}} {
		p.rule(p.base(hook.name, nftables.ChainTypeNAT, hook.hook, -100), jump(services.Name))
	}
	p.rule(services,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
		&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: serviceIPs.Name, SetID: serviceIPs.ID, DestRegister: 0, IsDestRegSet: true})
	// Node ports last: only to this host's own addresses.
	p.rule(services, append(localDaddr(),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: nodePorts.Name, SetID: nodePorts.ID, DestRegister: 0, IsDestRegSet: true})...)
	for n, ch := range pickChains {
		for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP} {
			p.rule(ch, append(l4proto(proto),
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 9},
				&expr.Payload{DestRegister: 10, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Numgen{Register: 11, Modulus: uint32(n), Type: unix.NFT_NG_RANDOM},
				&expr.Lookup{SourceRegister: 1, SetName: endpoints.Name, SetID: endpoints.ID, DestRegister: 1, IsDestRegSet: true},
				dnatRegs())...)
		}
	}
	for n, ch := range nodePortPickChains {
		// Node port traffic is masqueraded on its way out (as kube-proxy
		// does for externalTrafficPolicy Cluster): the endpoint may be on
		// another node, or on the bridge of the pod that asked, and its
		// answer must come back through this node to be un-DNATed.
		p.rule(ch,
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				// mark | bit, as nftables writes it: (mark & ^bit) ^ bit
				Mask: binaryutil.NativeEndian.PutUint32(^masqueradeMark), Xor: binaryutil.NativeEndian.PutUint32(masqueradeMark)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1})
		for _, proto := range []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP} {
			p.rule(ch, append(l4proto(proto),
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Numgen{Register: 10, Modulus: uint32(n), Type: unix.NFT_NG_RANDOM},
				&expr.Lookup{SourceRegister: 1, SetName: nodePortEndpoints.Name, SetID: nodePortEndpoints.ID, DestRegister: 1, IsDestRegSet: true},
				dnatRegs())...)
		}
	}
	for _, a := range affinity {
		if err := p.affinityService(a.chain, shortHash(a.sp.Key), a.sp); err != nil {
			return err
		}
	}
	post := p.base("nat-postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, 100)
	p.rule(post,
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: hairpin.Name, SetID: hairpin.ID},
		&expr.Masq{})
	p.rule(post,
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(masqueradeMark), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(masqueradeMark)},
		&expr.Masq{})
	return nil
}

// masqueradeMark is the packet mark bit of node port traffic, the bit
// kube-proxy uses for the same purpose.
const masqueradeMark uint32 = 0x4000

// dnatRegs DNATs to the address and port a map lookup left in the first
// two 32-bit registers: the pick chains build the key (cluster IP .
// protocol . port . random slot, or protocol . node port . slot) in the
// registers of register 1, and the map's value (IP . port) replaces it.
func dnatRegs() expr.Any {
	return &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 9, Specified: true}
}

// endpointValue is an endpoint as the maps' values hold it.
func endpointValue(ep Endpoint) []byte {
	return append(ep.IP.AsSlice(), byte(ep.Port>>8), byte(ep.Port), 0, 0)
}

// serviceKey is the key of a cluster IP port in the concatenated sets:
// each part takes whole 4-byte registers.
func serviceKey(ip netip.Addr, proto corev1.Protocol, port uint16) []byte {
	return append(ip.AsSlice(), portKey(proto, port)...)
}

func portKey(proto corev1.Protocol, port uint16) []byte {
	return []byte{protoNumber(proto), 0, 0, 0, byte(port >> 8), byte(port), 0, 0}
}

// affinityService sends a client back to the endpoint it had while its
// entry in that endpoint's set lives, else picks one at random (rule i
// takes 1/(N-i) of what the rules before it left: uniform).
func (p *program) affinityService(svc *nftables.Chain, h string, sp ServicePort) error {
	n := len(sp.Endpoints)
	eps := make([]*nftables.Chain, n)
	sets := make([]*nftables.Set, n)
	for i := range sp.Endpoints {
		eps[i] = p.chain(fmt.Sprintf("ep-%s-%d", h, i))
		sets[i] = &nftables.Set{Table: p.t, Name: fmt.Sprintf("aff-%s-%d", h, i), KeyType: nftables.TypeIPAddr,
			HasTimeout: true, Dynamic: true, Timeout: sp.Affinity}
		if err := p.c.AddSet(sets[i], nil); err != nil {
			return fmt.Errorf("nftables: affinity set of %s: %w", sp.Key, err)
		}
		p.rule(svc, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: sets[i].Name, SetID: sets[i].ID},
			&expr.Verdict{Kind: expr.VerdictGoto, Chain: eps[i].Name})
	}
	for i := range sp.Endpoints {
		var exprs []expr.Any
		if i < n-1 {
			exprs = append(exprs, &expr.Numgen{Register: 1, Modulus: uint32(n - i), Type: unix.NFT_NG_RANDOM},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)})
		}
		p.rule(svc, append(exprs, &expr.Verdict{Kind: expr.VerdictGoto, Chain: eps[i].Name})...)
	}
	for i, ep := range sp.Endpoints {
		p.rule(eps[i], &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Dynset{SrcRegKey: 1, SetName: sets[i].Name, SetID: sets[i].ID,
				Operation: uint32(unix.NFT_DYNSET_OP_UPDATE), Timeout: sp.Affinity})
		p.rule(eps[i], dnat(sp.Protocol, ep)...)
	}
	return nil
}

func dnat(proto corev1.Protocol, ep Endpoint) []expr.Any {
	return append(l4proto(proto),
		&expr.Immediate{Register: 1, Data: ep.IP.AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(ep.Port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true})
}

func shortHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:6])
}

func jump(chain string) *expr.Verdict { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

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

// localDaddr matches packets to one of this host's own addresses.
func localDaddr() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

func reject(p corev1.Protocol) expr.Any {
	if p == corev1.ProtocolTCP {
		return &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}
	}
	return &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3} // ICMP port unreachable
}
