package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var svcKind = schema.GroupKind{Kind: "Service"}

// ServiceRanges are where Services' cluster IPs and node ports come from.
type ServiceRanges struct {
	// ClusterIPs is the service CIDR (--service-cidr). Its first address
	// after the network's is kept for the "kubernetes" Service.
	ClusterIPs netip.Prefix
	// NodePortMin and NodePortMax bound node ports (--service-node-port-range).
	NodePortMin, NodePortMax int32
}

// Defaults of ServiceRanges, as in k3s.
const (
	DefaultServiceCIDR   = "10.43.0.0/16"
	DefaultNodePortRange = "30000-32767"
)

// DefaultServiceRanges returns k3s' ranges.
func DefaultServiceRanges() ServiceRanges {
	r, _ := ParseServiceRanges(DefaultServiceCIDR, DefaultNodePortRange)
	return r
}

// ParseServiceRanges parses a service CIDR and a node port range
// ("30000-32767").
func ParseServiceRanges(cidr, nodePorts string) (ServiceRanges, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits() > 28 || p.Bits() < 12 {
		return ServiceRanges{}, fmt.Errorf("service CIDR %q: want an IPv4 CIDR from /12 to /28", cidr)
	}
	lo, hi, ok := strings.Cut(nodePorts, "-")
	min, err1 := strconv.Atoi(lo)
	max, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || min < 1 || max > 65535 || min > max {
		return ServiceRanges{}, fmt.Errorf("node port range %q: want FIRST-LAST, ports from 1 to 65535", nodePorts)
	}
	return ServiceRanges{ClusterIPs: p.Masked(), NodePortMin: int32(min), NodePortMax: int32(max)}, nil
}

// APIServiceIP is the cluster IP of the "kubernetes" Service: the first
// address of the range.
func (r ServiceRanges) APIServiceIP() netip.Addr { return r.ClusterIPs.Addr().Next() }

// size is the number of addresses in the CIDR.
func (r ServiceRanges) size() int { return 1 << (32 - r.ClusterIPs.Bits()) }

// usable reports whether ip may be a cluster IP: inside the CIDR, neither
// its network nor its broadcast address.
func (r ServiceRanges) usable(ip netip.Addr) bool {
	if !r.ClusterIPs.Contains(ip) || ip == r.ClusterIPs.Addr() {
		return false
	}
	return ip != r.nth(r.size()-1)
}

func (r ServiceRanges) nth(n int) netip.Addr {
	b := r.ClusterIPs.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// serviceAllocation is what prepareService picked itself: if the store
// finds one of them taken (a race with another writer), the write is
// retried with another pick; a value the client asked for is never
// replaced.
type serviceAllocation struct {
	fields map[string]bool // field paths picked
}

// prepareService fills in what a Service needs and the client left out —
// a cluster IP, node ports, clusterIPs and ipFamilies — keeping on update
// what old holds, and checks what the client asked for against the
// ranges.
func (s *Server) prepareService(ctx context.Context, svc, old *corev1.Service, avoid map[string]bool) (*serviceAllocation, error) {
	r := s.cfg.Services
	alloc := &serviceAllocation{fields: map[string]bool{}}
	nodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	if old != nil {
		// A manifest applied again says nothing of what was allocated:
		// keep it, as Kubernetes does.
		if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 && svc.Spec.Type != corev1.ServiceTypeExternalName {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
		}
		if nodePorts {
			for i := range svc.Spec.Ports {
				if p := &svc.Spec.Ports[i]; p.NodePort == 0 {
					p.NodePort = oldNodePort(old, *p)
				}
			}
		}
	}
	if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) > 0 {
		svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
	}
	var errs field.ErrorList
	used, err := s.usedByServices(ctx, svc)
	if err != nil {
		return nil, err
	}
	switch ip := svc.Spec.ClusterIP; {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		// A DNS alias: no address.
	case ip == corev1.ClusterIPNone:
		svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
	case ip == "":
		picked, ok := r.pickIP(used, avoid)
		if !ok {
			return nil, apierrors.NewInternalError(fmt.Errorf("no cluster IP left in the service CIDR %s (--service-cidr)", r.ClusterIPs))
		}
		svc.Spec.ClusterIP = picked.String()
		alloc.fields["spec.clusterIP"] = true
	default:
		if a, err := netip.ParseAddr(ip); err == nil && (old == nil || old.Spec.ClusterIP != ip) && !r.usable(a) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIP"), ip,
				fmt.Sprintf("not in the service CIDR %s (--service-cidr), or its network or broadcast address", r.ClusterIPs)))
		}
	}
	if hasIP := svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone; hasIP {
		if len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		} else if svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
			errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), svc.Spec.ClusterIPs[0], "must match spec.clusterIP"))
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		if svc.Spec.IPFamilyPolicy == nil {
			single := corev1.IPFamilyPolicySingleStack
			svc.Spec.IPFamilyPolicy = &single
		}
	}
	mine := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		mine[p.NodePort] = true
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
		switch {
		case !nodePorts:
		case p.NodePort == 0:
			// The same number for a TCP and a UDP port of the same port.
			if n := samePortNodePort(svc, *p); n != 0 {
				p.NodePort = n
				continue
			}
			n, ok := r.pickNodePort(used, mine, avoid)
			if !ok {
				return nil, apierrors.NewInternalError(fmt.Errorf("no node port left in %d-%d (--service-node-port-range)", r.NodePortMin, r.NodePortMax))
			}
			p.NodePort, mine[n] = n, true
			alloc.fields[path.String()] = true
		case p.NodePort < r.NodePortMin || p.NodePort > r.NodePortMax:
			errs = append(errs, field.Invalid(path, p.NodePort,
				fmt.Sprintf("provided port is not in the valid range %d-%d (--service-node-port-range)", r.NodePortMin, r.NodePortMax)))
		}
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(svcKind, svc.Name, errs)
	}
	return alloc, nil
}

// retryable reports whether err refuses only values this allocation
// picked, and adds them to avoid.
func (a *serviceAllocation) retryable(err error, svc *corev1.Service, avoid map[string]bool) bool {
	var st apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &st) || st.Status().Details == nil {
		return false
	}
	causes := st.Status().Details.Causes
	if len(causes) == 0 {
		return false
	}
	for _, c := range causes {
		if !a.fields[c.Field] {
			return false
		}
	}
	for _, c := range causes {
		if c.Field == "spec.clusterIP" {
			avoid["ip/"+svc.Spec.ClusterIP] = true
		}
		for i, p := range svc.Spec.Ports {
			if c.Field == field.NewPath("spec", "ports").Index(i).Child("nodePort").String() {
				avoid["port/"+strconv.Itoa(int(p.NodePort))] = true
			}
		}
	}
	return true
}

// usedByServices returns the cluster IPs ("ip/...") and node ports
// ("port/...") other Services hold, from this master's view; the FSM
// settles any race.
func (s *Server) usedByServices(ctx context.Context, svc *corev1.Service) (map[string]bool, error) {
	res, ok := s.reg.ByKind("Service")
	if !ok {
		return nil, errors.New("the registry has no Service")
	}
	l, err := s.store.List(ctx, res, storage.ListOptions{Stale: true})
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, rec := range l.Items {
		o := rec.Object().(*corev1.Service)
		if o.Namespace == svc.Namespace && o.Name == svc.Name {
			continue
		}
		used["ip/"+o.Spec.ClusterIP] = true
		for _, p := range o.Spec.Ports {
			if p.NodePort != 0 {
				used["port/"+strconv.Itoa(int(p.NodePort))] = true
			}
		}
	}
	return used, nil
}

// pickIP picks a free cluster IP at random (a released IP is then not
// reused at once by the next Service, which clients' caches may still
// hold), skipping the one kept for the "kubernetes" Service.
func (r ServiceRanges) pickIP(used, avoid map[string]bool) (netip.Addr, bool) {
	n := r.size()
	start := rand.IntN(n)
	for i := range n {
		ip := r.nth((start + i) % n)
		k := "ip/" + ip.String()
		if r.usable(ip) && ip != r.APIServiceIP() && !used[k] && !avoid[k] {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func (r ServiceRanges) pickNodePort(used map[string]bool, mine map[int32]bool, avoid map[string]bool) (int32, bool) {
	n := int(r.NodePortMax-r.NodePortMin) + 1
	start := rand.IntN(n)
	for i := range n {
		p := r.NodePortMin + int32((start+i)%n)
		k := "port/" + strconv.Itoa(int(p))
		if !used[k] && !avoid[k] && !mine[p] {
			return p, true
		}
	}
	return 0, false
}

// oldNodePort is the node port old gave the port matching p (by name,
// else by number and protocol).
func oldNodePort(old *corev1.Service, p corev1.ServicePort) int32 {
	for _, o := range old.Spec.Ports {
		if p.Name != "" && o.Name == p.Name || p.Name == "" && o.Port == p.Port && o.Protocol == p.Protocol {
			return o.NodePort
		}
	}
	return 0
}

// samePortNodePort is the node port already given to another protocol of
// p's port number in svc.
func samePortNodePort(svc *corev1.Service, p corev1.ServicePort) int32 {
	for _, o := range svc.Spec.Ports {
		if o.Port == p.Port && o.Protocol != p.Protocol && o.NodePort != 0 {
			return o.NodePort
		}
	}
	return 0
}
