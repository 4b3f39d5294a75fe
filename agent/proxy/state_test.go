package proxy

import (
	"context"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func svc(name, ip string, typ corev1.ServiceType, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{Type: typ, ClusterIP: ip, Ports: ports}}
}

func endpoints(name string, subsets ...corev1.EndpointSubset) *corev1.Endpoints {
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Subsets: subsets}
}

func subset(ports []corev1.EndpointPort, ready []string, notReady ...string) corev1.EndpointSubset {
	ss := corev1.EndpointSubset{Ports: ports}
	for _, ip := range ready {
		ss.Addresses = append(ss.Addresses, corev1.EndpointAddress{IP: ip})
	}
	for _, ip := range notReady {
		ss.NotReadyAddresses = append(ss.NotReadyAddresses, corev1.EndpointAddress{IP: ip})
	}
	return ss
}

func TestBuild(t *testing.T) {
	http := corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http"), NodePort: 30080}
	dns := corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}
	sctp := corev1.ServicePort{Name: "s", Port: 9, Protocol: corev1.ProtocolSCTP}
	sticky := svc("sticky", "10.43.0.12", "", http)
	sticky.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	secs := int32(60)
	sticky.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &secs}}
	cases := []struct {
		name string
		svcs []*corev1.Service
		eps  []*corev1.Endpoints
		want []ServicePort
	}{
		{"headless, external name and address-less services are not programmed",
			[]*corev1.Service{svc("h", "None", "", http), svc("x", "", corev1.ServiceTypeExternalName), svc("n", "", "", http)}, nil, nil},
		{"ready endpoints only, per named port and protocol, sorted; node port only for NodePort",
			[]*corev1.Service{svc("web", "10.43.0.10", corev1.ServiceTypeNodePort, http, dns, sctp), svc("plain", "10.43.0.11", "", http)},
			[]*corev1.Endpoints{endpoints("web",
				subset([]corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}, []string{"10.42.0.3", "10.42.0.2"}, "10.42.0.9"),
				subset([]corev1.EndpointPort{{Name: "dns", Port: 5353, Protocol: corev1.ProtocolUDP}}, []string{"10.42.0.2"}))},
			[]ServicePort{
				{Key: "default/plain:http", ClusterIP: netip.MustParseAddr("10.43.0.11"), Port: 80, Protocol: corev1.ProtocolTCP},
				{Key: "default/web:dns", ClusterIP: netip.MustParseAddr("10.43.0.10"), Port: 53, Protocol: corev1.ProtocolUDP,
					Endpoints: []Endpoint{ep("10.42.0.2:5353")}},
				{Key: "default/web:http", ClusterIP: netip.MustParseAddr("10.43.0.10"), Port: 80, Protocol: corev1.ProtocolTCP, NodePort: 30080,
					Endpoints: []Endpoint{ep("10.42.0.2:8080"), ep("10.42.0.3:8080")}},
			}},
		{"ClientIP affinity with its timeout",
			[]*corev1.Service{sticky}, nil,
			[]ServicePort{{Key: "default/sticky:http", ClusterIP: netip.MustParseAddr("10.43.0.12"), Port: 80, Protocol: corev1.ProtocolTCP, Affinity: time.Minute}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eps := map[string]*corev1.Endpoints{}
			for _, e := range tc.eps {
				eps[objKey(e.Namespace, e.Name)] = e
			}
			got := Build(tc.svcs, eps).Services
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// fakeBackend records the states it is given.
type fakeBackend struct {
	mu     sync.Mutex
	states []State
}

func (f *fakeBackend) Name() string { return "fake" }
func (f *fakeBackend) Sync(st State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states = append(f.states, st)
	return nil
}
func (f *fakeBackend) Cleanup() error { return nil }
func (f *fakeBackend) count() int     { f.mu.Lock(); defer f.mu.Unlock(); return len(f.states) }

func TestProxierWaitsForSyncAndGathersBursts(t *testing.T) {
	fb := &fakeBackend{}
	p := New(Config{Backend: fb, MinSyncInterval: 20 * time.Millisecond, ResyncPeriod: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	p.SetService(svc("web", "10.43.0.10", "", corev1.ServicePort{Name: "http", Port: 80}))
	time.Sleep(100 * time.Millisecond)
	if n := fb.count(); n != 0 {
		t.Fatalf("%d syncs before both watches listed: a partial state would drop live services", n)
	}
	p.MarkSynced()
	for i := range 50 {
		p.SetEndpoints(endpoints("web", subset([]corev1.EndpointPort{{Name: "http", Port: 8080}}, []string{"10.42.0." + string(rune('1'+i%9))})))
	}
	deadline := time.Now().Add(5 * time.Second)
	for fb.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := fb.count(); n == 0 || n > 3 {
		t.Fatalf("%d syncs for one burst of 51 changes, want 1 to 3", n)
	}
	// Nothing changed: no sync.
	before := fb.count()
	p.SetService(svc("web", "10.43.0.10", "", corev1.ServicePort{Name: "http", Port: 80}))
	time.Sleep(100 * time.Millisecond)
	if n := fb.count(); n != before {
		t.Fatalf("an unchanged state was programmed again (%d -> %d syncs)", before, n)
	}
	// WaitApplied: a check after now, though nothing changed.
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	if err := p.WaitApplied(wctx, time.Now()); err != nil {
		t.Fatalf("WaitApplied with nothing to change: %v", err)
	}
	wcancel()
	p.DeleteService("default", "web")
	deadline = time.Now().Add(5 * time.Second)
	for fb.count() == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	fb.mu.Lock()
	last := fb.states[len(fb.states)-1]
	fb.mu.Unlock()
	if len(last.Services) != 0 {
		t.Fatalf("after the delete: %+v", last)
	}
}
