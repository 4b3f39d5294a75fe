package proxy

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/ipvs"
	corev1 "k8s.io/api/core/v1"
)

// fakeIPVS is an in-memory IPVS table.
type fakeIPVS struct {
	svcs  map[ipvsKey]ipvs.ServiceExtended
	dests map[ipvsKey][]ipvs.DestinationExtended
	ops   []string
}

func newFakeIPVS() *fakeIPVS {
	return &fakeIPVS{svcs: map[ipvsKey]ipvs.ServiceExtended{}, dests: map[ipvsKey][]ipvs.DestinationExtended{}}
}

func keyOf(s ipvs.Service) ipvsKey { return ipvsKey{s.Address, s.Protocol, s.Port} }

func (f *fakeIPVS) Info() (ipvs.Info, error)     { return ipvs.Info{}, nil }
func (f *fakeIPVS) Config() (ipvs.Config, error) { return ipvs.Config{}, nil }
func (f *fakeIPVS) SetConfig(ipvs.Config) error  { return nil }
func (f *fakeIPVS) Services() ([]ipvs.ServiceExtended, error) {
	if len(f.svcs) == 0 {
		return nil, os.ErrNotExist // as the kernel answers an empty table
	}
	var out []ipvs.ServiceExtended
	for _, s := range f.svcs {
		out = append(out, s)
	}
	return out, nil
}
func (f *fakeIPVS) Service(s ipvs.Service) (ipvs.ServiceExtended, error) {
	return f.svcs[keyOf(s)], nil
}
func (f *fakeIPVS) CreateService(s ipvs.Service) error {
	f.ops = append(f.ops, fmt.Sprintf("create %s:%d", s.Address, s.Port))
	s.Flags |= ipvs.ServiceHashed // as the kernel reads it back
	f.svcs[keyOf(s)] = ipvs.ServiceExtended{Service: s}
	return nil
}
func (f *fakeIPVS) UpdateService(s ipvs.Service) error {
	f.ops = append(f.ops, fmt.Sprintf("update %s:%d", s.Address, s.Port))
	f.svcs[keyOf(s)] = ipvs.ServiceExtended{Service: s}
	return nil
}
func (f *fakeIPVS) RemoveService(s ipvs.Service) error {
	f.ops = append(f.ops, fmt.Sprintf("remove %s:%d", s.Address, s.Port))
	delete(f.svcs, keyOf(s))
	delete(f.dests, keyOf(s))
	return nil
}
func (f *fakeIPVS) Destinations(s ipvs.Service) ([]ipvs.DestinationExtended, error) {
	return f.dests[keyOf(s)], nil
}
func (f *fakeIPVS) CreateDestination(s ipvs.Service, d ipvs.Destination) error {
	f.ops = append(f.ops, fmt.Sprintf("+dest %s:%d %s:%d w%d", s.Address, s.Port, d.Address, d.Port, d.Weight))
	f.dests[keyOf(s)] = append(f.dests[keyOf(s)], ipvs.DestinationExtended{Destination: d})
	return nil
}
func (f *fakeIPVS) UpdateDestination(s ipvs.Service, d ipvs.Destination) error {
	f.ops = append(f.ops, fmt.Sprintf("weight %s:%d %s:%d w%d", s.Address, s.Port, d.Address, d.Port, d.Weight))
	for i, x := range f.dests[keyOf(s)] {
		if x.Address == d.Address && x.Port == d.Port {
			f.dests[keyOf(s)][i].Weight = d.Weight
		}
	}
	return nil
}
func (f *fakeIPVS) RemoveDestination(s ipvs.Service, d ipvs.Destination) error {
	f.ops = append(f.ops, fmt.Sprintf("-dest %s:%d %s:%d", s.Address, s.Port, d.Address, d.Port))
	f.dests[keyOf(s)] = slices.DeleteFunc(f.dests[keyOf(s)], func(x ipvs.DestinationExtended) bool {
		return x.Address == d.Address && x.Port == d.Port
	})
	return nil
}

// fakeAddrs is the device's address list.
type fakeAddrs struct{ addrs []netip.Addr }

func (f *fakeAddrs) List() ([]netip.Addr, error) { return slices.Clone(f.addrs), nil }
func (f *fakeAddrs) Add(a netip.Addr) error      { f.addrs = append(f.addrs, a); return nil }
func (f *fakeAddrs) Remove(a netip.Addr) error {
	f.addrs = slices.DeleteFunc(f.addrs, func(x netip.Addr) bool { return x == a })
	return nil
}

func TestIPVSSyncAppliesTheDifference(t *testing.T) {
	k := newFakeIPVS()
	// Someone else's virtual service, outside the service CIDR: kept.
	other := ipvs.Service{Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Protocol: ipvs.TCP, Family: ipvs.INET, Scheduler: "wrr"}
	k.svcs[keyOf(other)] = ipvs.ServiceExtended{Service: other}
	addrs := &fakeAddrs{}
	node := netip.MustParseAddr("192.168.1.5")
	// Someone else's service on the node's address, outside the node port
	// range: kept too.
	web80 := ipvs.Service{Address: node, Port: 80, Protocol: ipvs.TCP, Family: ipvs.INET, Scheduler: "rr"}
	k.svcs[keyOf(web80)] = ipvs.ServiceExtended{Service: web80}
	b := &IPVS{Client: k, ServiceCIDR: netip.MustParsePrefix("10.43.0.0/16"), Addresses: addrs,
		NodeAddresses: func() ([]netip.Addr, error) { return []netip.Addr{node}, nil }}
	web := ServicePort{Key: "default/web:http", ClusterIP: netip.MustParseAddr("10.43.0.10"), Port: 80, Protocol: corev1.ProtocolTCP,
		NodePort: 30080, Endpoints: []Endpoint{ep("10.42.0.2:8080"), ep("10.42.0.3:8080")}}
	sticky := ServicePort{Key: "default/sticky:http", ClusterIP: netip.MustParseAddr("10.43.0.12"), Port: 80, Protocol: corev1.ProtocolTCP,
		Affinity: time.Hour, Endpoints: []Endpoint{ep("10.42.0.2:8080")}}
	empty := ServicePort{Key: "default/empty:http", ClusterIP: netip.MustParseAddr("10.43.0.11"), Port: 80, Protocol: corev1.ProtocolTCP}
	sync := func(sps ...ServicePort) []string {
		t.Helper()
		k.ops = nil
		if err := b.Sync(State{Services: sps}); err != nil {
			t.Fatal(err)
		}
		return k.ops
	}
	sync(web, sticky, empty)
	if s := k.svcs[ipvsKey{web.ClusterIP, ipvs.TCP, 80}]; s.Scheduler != "rr" || len(k.dests[keyOf(s.Service)]) != 2 {
		t.Fatalf("web: %+v, dests %+v", s, k.dests[keyOf(s.Service)])
	}
	if np := k.svcs[ipvsKey{node, ipvs.TCP, 30080}]; np.Scheduler != "rr" || len(k.dests[keyOf(np.Service)]) != 2 {
		t.Fatalf("the node port on the node's address: %+v", np)
	}
	if s := k.svcs[ipvsKey{sticky.ClusterIP, ipvs.TCP, 80}]; s.Flags&ipvs.ServicePersistent == 0 || s.Timeout != 3600 {
		t.Fatalf("ClientIP affinity: %+v", s)
	}
	if _, ok := k.svcs[ipvsKey{empty.ClusterIP, ipvs.TCP, 80}]; ok {
		t.Fatal("a service without endpoints got a virtual service (its address alone makes the host refuse)")
	}
	if !slices.Contains(addrs.addrs, empty.ClusterIP) || len(addrs.addrs) != 3 {
		t.Fatalf("device addresses %v", addrs.addrs)
	}
	// Nothing changed: nothing done.
	if ops := sync(web, sticky, empty); len(ops) != 0 {
		t.Fatalf("an unchanged state changed the kernel: %v", ops)
	}
	// An endpoint goes: weight 0 first, removed once its connections end.
	web2 := web
	web2.Endpoints = web.Endpoints[:1]
	ops := sync(web2, sticky, empty)
	slices.Sort(ops)
	if got := strings.Join(ops, "; "); got != "weight 10.43.0.10:80 10.42.0.3:8080 w0; weight 192.168.1.5:30080 10.42.0.3:8080 w0" {
		t.Fatalf("graceful removal: %s", got)
	}
	key := ipvsKey{web.ClusterIP, ipvs.TCP, 80}
	npKey := ipvsKey{node, ipvs.TCP, 30080}
	k.dests[key][1].ActiveConnections = 2
	k.dests[npKey][1].InactiveConnections = 1
	if ops := sync(web2, sticky, empty); len(ops) != 0 {
		t.Fatalf("removed while it still had connections: %v", ops)
	}
	k.dests[key][1].ActiveConnections = 0
	k.dests[npKey][1].InactiveConnections = 0
	ops = sync(web2, sticky, empty)
	slices.Sort(ops)
	if got := strings.Join(ops, "; "); got != "-dest 10.43.0.10:80 10.42.0.3:8080; -dest 192.168.1.5:30080 10.42.0.3:8080" {
		t.Fatalf("removal once drained: %s", got)
	}
	// Deleted services go, with their addresses; someone else's stays.
	sync(web2)
	if _, ok := k.svcs[ipvsKey{sticky.ClusterIP, ipvs.TCP, 80}]; ok || len(addrs.addrs) != 1 {
		t.Fatalf("after deleting sticky and empty: services %v, addresses %v", k.svcs, addrs.addrs)
	}
	if _, ok := k.svcs[keyOf(other)]; !ok {
		t.Fatal("a virtual service outside the service CIDR was removed")
	}
	if _, ok := k.svcs[keyOf(web80)]; !ok {
		t.Fatal("a virtual service on the node's address outside the node port range was removed")
	}
	// The node port goes with its Service.
	sync()
	if _, ok := k.svcs[ipvsKey{node, ipvs.TCP, 30080}]; ok {
		t.Fatal("the node port's virtual service outlived its Service")
	}
}
