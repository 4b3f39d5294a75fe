package proxy

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
)

// IPVSDevice holds the cluster IPs in IPVS mode: the kernel must see them
// as local addresses for IPVS to take their packets.
const IPVSDevice = "skiff-ipvs0"

// IPVS programs Services as IPVS virtual services (round robin by
// default, masquerade to the endpoints, persistence for ClientIP
// affinity), where the kernel has IPVS. Unlike nftables it updates in
// place: Sync reads what the kernel has and applies the difference, so
// connections to endpoints that stay are untouched, and an endpoint that
// goes is first given weight 0 (no new connections) and removed once its
// connections are gone. A Service without endpoints has its address but
// no virtual service: the host refuses the connection at once.
//
// Only virtual services inside ServiceCIDR are skiff's; others are left
// alone.
type IPVS struct {
	Client      ipvs.Client
	ServiceCIDR netip.Prefix
	// Scheduler is IPVS's scheduler name; default "rr".
	Scheduler string
	// Addresses manages the cluster IPs on IPVSDevice; nil uses netlink.
	Addresses AddressSet
	// NodeAddresses returns the node's own addresses, where node ports
	// get a virtual service each; nil uses the host's (netlink).
	NodeAddresses func() ([]netip.Addr, error)
	// NodePortRange is the masters' --service-node-port-range: virtual
	// services on the node's addresses in it are skiff's; zero means
	// 30000-32767.
	NodePortRange [2]uint16
}

// AddressSet is the set of cluster IPs held by the IPVS device.
type AddressSet interface {
	List() ([]netip.Addr, error)
	Add(netip.Addr) error
	Remove(netip.Addr) error
}

// NewIPVS connects to the kernel's IPVS; it fails (errors.Is
// os.ErrNotExist) where the kernel has none, which is how auto mode picks
// nftables instead.
func NewIPVS(cidr netip.Prefix) (*IPVS, error) {
	c, err := ipvs.New()
	if err != nil {
		return nil, err
	}
	if _, err := c.Info(); err != nil {
		return nil, err
	}
	return &IPVS{Client: c, ServiceCIDR: cidr}, nil
}

func (b *IPVS) Name() string { return "ipvs" }

// ipvsKey identifies a virtual service.
type ipvsKey struct {
	addr  netip.Addr
	proto ipvs.Protocol
	port  uint16
}

type ipvsWant struct {
	svc   ipvs.Service
	dests []Endpoint
}

// ipvsPlan is what Sync must do, computed from the desired state and what
// the kernel holds: exported to tests through plan.
type ipvsPlan struct {
	createServices []ipvsWant
	updateServices []ipvs.Service
	removeServices []ipvs.Service
	createDests    map[ipvsKey][]ipvs.Destination
	updateDests    map[ipvsKey][]ipvs.Destination // weight changes
	removeDests    map[ipvsKey][]ipvs.Destination
	addAddrs       []netip.Addr
	removeAddrs    []netip.Addr
}

func (b *IPVS) scheduler() string {
	if b.Scheduler == "" {
		return "rr"
	}
	return b.Scheduler
}

func ipvsProto(p corev1.Protocol) ipvs.Protocol {
	if p == corev1.ProtocolUDP {
		return ipvs.UDP
	}
	return ipvs.TCP
}

// owned reports whether a virtual service is skiff's: on a cluster IP, or
// a node port on one of the node's addresses.
func (b *IPVS) owned(k ipvsKey, nodeAddrs map[netip.Addr]bool, nodePorts map[uint16]bool) bool {
	return b.ServiceCIDR.Contains(k.addr) || nodeAddrs[k.addr] && nodePorts[k.port]
}

// desired returns the virtual services st asks for (a node port gets one
// on each of the node's addresses) and the addresses the device must hold.
func (b *IPVS) desired(st State, nodeAddrs []netip.Addr) (map[ipvsKey]ipvsWant, map[netip.Addr]bool) {
	want := map[ipvsKey]ipvsWant{}
	addrs := map[netip.Addr]bool{}
	for _, sp := range st.Services {
		if !b.ServiceCIDR.Contains(sp.ClusterIP) {
			continue
		}
		addrs[sp.ClusterIP] = true
		if len(sp.Endpoints) == 0 {
			continue
		}
		svc := ipvs.Service{Address: sp.ClusterIP, Port: sp.Port, Protocol: ipvsProto(sp.Protocol), Family: ipvs.INET,
			Scheduler: b.scheduler(), Netmask: netmask.MaskFrom(32, 32)}
		if sp.Affinity > 0 {
			svc.Flags, svc.Timeout = ipvs.ServicePersistent, uint32(sp.Affinity.Seconds())
		}
		want[ipvsKey{sp.ClusterIP, svc.Protocol, sp.Port}] = ipvsWant{svc: svc, dests: sp.Endpoints}
		if sp.NodePort == 0 {
			continue
		}
		for _, a := range nodeAddrs {
			np := svc
			np.Address, np.Port = a, sp.NodePort
			want[ipvsKey{a, np.Protocol, sp.NodePort}] = ipvsWant{svc: np, dests: sp.Endpoints}
		}
	}
	return want, addrs
}

// plan compares the desired virtual services with the kernel's.
func (b *IPVS) plan(st State, current []ipvs.ServiceExtended, dests func(ipvs.Service) ([]ipvs.DestinationExtended, error), held, nodeAddrs []netip.Addr) (*ipvsPlan, error) {
	want, addrs := b.desired(st, nodeAddrs)
	isNode := map[netip.Addr]bool{}
	for _, a := range nodeAddrs {
		isNode[a] = true
	}
	// The node port range is not known here: a virtual service on a node
	// address is skiff's if a node port of st or one skiff made before
	// (in the node port range every Service's port is) names it.
	nodePorts := map[uint16]bool{}
	for _, sp := range st.Services {
		if sp.NodePort != 0 {
			nodePorts[sp.NodePort] = true
		}
	}
	for _, cur := range current {
		if isNode[cur.Address] && cur.Port >= b.nodePortMin() && cur.Port <= b.nodePortMax() {
			nodePorts[cur.Port] = true
		}
	}
	p := &ipvsPlan{createDests: map[ipvsKey][]ipvs.Destination{}, updateDests: map[ipvsKey][]ipvs.Destination{},
		removeDests: map[ipvsKey][]ipvs.Destination{}}
	seen := map[ipvsKey]bool{}
	for _, cur := range current {
		if !b.owned(ipvsKey{cur.Address, cur.Protocol, cur.Port}, isNode, nodePorts) {
			continue // not skiff's
		}
		k := ipvsKey{cur.Address, cur.Protocol, cur.Port}
		w, ok := want[k]
		if !ok {
			p.removeServices = append(p.removeServices, cur.Service)
			continue
		}
		seen[k] = true
		if cur.Scheduler != w.svc.Scheduler || cur.Flags&^ipvs.ServiceHashed != w.svc.Flags || (w.svc.Flags != 0 && cur.Timeout != w.svc.Timeout) {
			p.updateServices = append(p.updateServices, w.svc)
		}
		have, err := dests(cur.Service)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("ipvs: destinations of %s:%d: %w", cur.Address, cur.Port, err)
		}
		wantDest := map[Endpoint]bool{}
		for _, e := range w.dests {
			wantDest[e] = true
		}
		haveDest := map[Endpoint]bool{}
		for _, d := range have {
			e := Endpoint{IP: d.Address, Port: d.Port}
			haveDest[e] = true
			switch {
			case wantDest[e] && d.Weight == 0:
				// Back after a graceful removal began.
				p.updateDests[k] = append(p.updateDests[k], destination(e, 1))
			case !wantDest[e] && d.Weight > 0:
				// Gone: no new connections, the established ones finish.
				p.updateDests[k] = append(p.updateDests[k], destination(e, 0))
			case !wantDest[e] && d.ActiveConnections+d.InactiveConnections == 0:
				p.removeDests[k] = append(p.removeDests[k], destination(e, 0))
			}
		}
		for _, e := range w.dests {
			if !haveDest[e] {
				p.createDests[k] = append(p.createDests[k], destination(e, 1))
			}
		}
	}
	for k, w := range want {
		if !seen[k] {
			p.createServices = append(p.createServices, w)
		}
	}
	slices.SortFunc(p.createServices, func(a, b ipvsWant) int {
		return cmp.Or(a.svc.Address.Compare(b.svc.Address), cmp.Compare(a.svc.Port, b.svc.Port), cmp.Compare(a.svc.Protocol, b.svc.Protocol))
	})
	heldSet := map[netip.Addr]bool{}
	for _, a := range held {
		heldSet[a] = true
		if b.ServiceCIDR.Contains(a) && !addrs[a] {
			p.removeAddrs = append(p.removeAddrs, a)
		}
	}
	for a := range addrs {
		if !heldSet[a] {
			p.addAddrs = append(p.addAddrs, a)
		}
	}
	slices.SortFunc(p.addAddrs, netip.Addr.Compare)
	slices.SortFunc(p.removeAddrs, netip.Addr.Compare)
	return p, nil
}

func destination(e Endpoint, weight uint32) ipvs.Destination {
	return ipvs.Destination{Address: e.IP, Port: e.Port, Family: ipvs.INET, FwdMethod: ipvs.Masquerade, Weight: weight}
}

// Sync applies the difference between st and the kernel's IPVS table.
// Addresses come first, removals of virtual services before their
// addresses go.
func (b *IPVS) Sync(st State) error {
	addrs := b.Addresses
	if addrs == nil {
		addrs = netlinkAddresses{}
	}
	current, err := b.Client.Services()
	if err != nil && !errors.Is(err, os.ErrNotExist) { // an empty table reads as "not exist"
		return fmt.Errorf("ipvs: listing services: %w", err)
	}
	held, err := addrs.List()
	if err != nil {
		return err
	}
	nodeAddrsFn := b.NodeAddresses
	if nodeAddrsFn == nil {
		nodeAddrsFn = hostAddresses
	}
	nodeAddrs, err := nodeAddrsFn()
	if err != nil {
		return fmt.Errorf("ipvs: the node's addresses: %w", err)
	}
	p, err := b.plan(st, current, b.Client.Destinations, held, nodeAddrs)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range p.addAddrs {
		errs = append(errs, addrs.Add(a))
	}
	for _, s := range p.removeServices {
		errs = append(errs, b.Client.RemoveService(s))
	}
	for _, s := range p.updateServices {
		errs = append(errs, b.Client.UpdateService(s))
	}
	for _, w := range p.createServices {
		if err := b.Client.CreateService(w.svc); err != nil {
			errs = append(errs, fmt.Errorf("ipvs: creating %s:%d: %w", w.svc.Address, w.svc.Port, err))
			continue
		}
		for _, e := range w.dests {
			errs = append(errs, b.Client.CreateDestination(w.svc, destination(e, 1)))
		}
	}
	svcOf := func(k ipvsKey) ipvs.Service {
		return ipvs.Service{Address: k.addr, Protocol: k.proto, Port: k.port, Family: ipvs.INET}
	}
	for k, ds := range p.createDests {
		for _, d := range ds {
			errs = append(errs, b.Client.CreateDestination(svcOf(k), d))
		}
	}
	for k, ds := range p.updateDests {
		for _, d := range ds {
			errs = append(errs, b.Client.UpdateDestination(svcOf(k), d))
		}
	}
	for k, ds := range p.removeDests {
		for _, d := range ds {
			errs = append(errs, b.Client.RemoveDestination(svcOf(k), d))
		}
	}
	for _, a := range p.removeAddrs {
		errs = append(errs, addrs.Remove(a))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ipvs: %w", err)
	}
	return nil
}

// Cleanup removes skiff's virtual services and the device.
func (b *IPVS) Cleanup() error {
	if err := b.Sync(State{}); err != nil {
		return err
	}
	if link, err := netlink.LinkByName(IPVSDevice); err == nil {
		return netlink.LinkDel(link)
	}
	return nil
}

func (b *IPVS) nodePortMin() uint16 {
	if b.NodePortRange[1] == 0 {
		return 30000
	}
	return b.NodePortRange[0]
}

func (b *IPVS) nodePortMax() uint16 {
	if b.NodePortRange[1] == 0 {
		return 32767
	}
	return b.NodePortRange[1]
}

// hostAddresses are the host's IPv4 addresses but loopback ones and those
// of IPVSDevice (the cluster IPs) and SinkDevice: where node ports listen.
func hostAddresses() ([]netip.Addr, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, l := range links {
		if name := l.Attrs().Name; name == IPVSDevice || name == SinkDevice {
			continue
		}
		list, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && !ip.IsLoopback() {
				out = append(out, ip)
			}
		}
	}
	return out, nil
}

// netlinkAddresses keeps the cluster IPs on IPVSDevice, a dummy interface.
type netlinkAddresses struct{}

func (netlinkAddresses) device() (netlink.Link, error) {
	link, err := netlink.LinkByName(IPVSDevice)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		if err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: IPVSDevice}}); err != nil {
			return nil, fmt.Errorf("ipvs: creating %s: %w", IPVSDevice, err)
		}
		link, err = netlink.LinkByName(IPVSDevice)
	}
	if err != nil {
		return nil, err
	}
	return link, netlink.LinkSetUp(link)
}

func (n netlinkAddresses) List() ([]netip.Addr, error) {
	link, err := n.device()
	if err != nil {
		return nil, err
	}
	list, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(list))
	for _, a := range list {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			out = append(out, ip)
		}
	}
	return out, nil
}

func (n netlinkAddresses) Add(ip netip.Addr) error {
	link, err := n.device()
	if err != nil {
		return err
	}
	return netlink.AddrReplace(link, &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}})
}

func (n netlinkAddresses) Remove(ip netip.Addr) error {
	link, err := n.device()
	if err != nil {
		return err
	}
	return netlink.AddrDel(link, &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}})
}
