package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// SinkDevice is the interface the service CIDR is routed to.
const SinkDevice = "skiff-svc"

// RouteServiceCIDR routes the whole service CIDR to SinkDevice, a bridge
// without ports (this kernel family may lack the dummy driver): a packet
// to a cluster IP is NAT-ed to a pod on its way, and one that is not (no
// such Service) dies there instead of leaving by the default route.
// Several agents on one host share the device and the route.
func RouteServiceCIDR(cidr netip.Prefix) error {
	link, err := sinkDevice()
	if err != nil {
		return err
	}
	dst := &net.IPNet{IP: cidr.Addr().AsSlice(), Mask: net.CIDRMask(cidr.Bits(), 32)}
	if err := netlink.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst, Scope: netlink.SCOPE_LINK}); err != nil {
		return fmt.Errorf("route %s dev %s: %w", cidr, SinkDevice, err)
	}
	return nil
}

// sinkDevice returns SinkDevice, up, creating it when missing.
func sinkDevice() (netlink.Link, error) {
	link, err := netlink.LinkByName(SinkDevice)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		err = netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: SinkDevice}})
		if err == nil || errors.Is(err, unix.EEXIST) {
			link, err = netlink.LinkByName(SinkDevice)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sink device %s: %w", SinkDevice, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("sink device %s: %w", SinkDevice, err)
	}
	return link, nil
}

// RemoveServiceRoute deletes SinkDevice and with it the route (tests).
func RemoveServiceRoute() error {
	link, err := netlink.LinkByName(SinkDevice)
	if err != nil {
		return nil
	}
	return netlink.LinkDel(link)
}

// AddLocalAddress puts ip (a /32) on SinkDevice, creating the device if
// needed: the node-local address of the cluster DNS server, reachable from
// the node's pods through their default route and never leaving the node.
func AddLocalAddress(ip netip.Addr) error {
	link, err := sinkDevice()
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", ip, SinkDevice, err)
	}
	return nil
}
