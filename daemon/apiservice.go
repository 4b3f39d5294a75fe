package daemon

import (
	"context"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skiffhq/skiff/apis/skiffv1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// apiServiceName is the Service in "default" through which pods reach the
// masters' API, as in Kubernetes.
const apiServiceName = "kubernetes"

// keepAPIService runs on the leader: it makes sure the "kubernetes"
// Service exists with the first address of the service CIDR, and keeps
// its Endpoints listing every master's API address.
func (m *masterProc) keepAPIService(ctx context.Context) {
	retry(ctx, m.log, "creating the kubernetes service", func() error { return m.ensureAPIService(ctx) })
	for ctx.Err() == nil {
		if err := m.syncAPIEndpoints(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("updating the kubernetes service's endpoints", "err", err)
		}
		sleep(ctx, 5)
	}
}

func (m *masterProc) ensureAPIService(ctx context.Context) error {
	if m.node.FSM().View().Get("Service", "default", apiServiceName) != nil {
		return nil
	}
	res, _ := m.reg.ByKind("Service")
	ip := m.cfg.services.APIServiceIP().String()
	single := corev1.IPFamilyPolicySingleStack
	svc := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: apiServiceName, Namespace: "default", UID: types.UID(newUID()), CreationTimestamp: metav1.Now(),
			Generation: 1, Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: &single,
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443,
				TargetPort: intstr.FromInt32(int32(m.apiPort()))}},
		},
	}
	_, err := m.raw.Create(ctx, res, svc)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (m *masterProc) apiPort() int {
	_, port, _ := net.SplitHostPort(m.cfg.APIAddr)
	n, _ := strconv.Atoi(port)
	return n
}

// syncAPIEndpoints writes the Endpoints of the "kubernetes" Service from
// the masters recorded in the store: one subset per API port.
func (m *masterProc) syncAPIEndpoints(ctx context.Context) error {
	view := m.node.FSM().View()
	byPort := map[int32][]corev1.EndpointAddress{}
	for _, o := range view.List("Member", "") {
		host, port, err := net.SplitHostPort(o.(*skiffv1.Member).Spec.APIAddress)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || net.ParseIP(host) == nil {
			continue
		}
		byPort[int32(n)] = append(byPort[int32(n)], corev1.EndpointAddress{IP: host})
	}
	var subsets []corev1.EndpointSubset
	for _, port := range slices.Sorted(maps.Keys(byPort)) {
		addrs := byPort[port]
		slices.SortFunc(addrs, func(a, b corev1.EndpointAddress) int { return strings.Compare(a.IP, b.IP) })
		subsets = append(subsets, corev1.EndpointSubset{Addresses: addrs,
			Ports: []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}}})
	}
	res, _ := m.reg.ByKind("Endpoints")
	cur, _ := view.Get("Endpoints", "default", apiServiceName).(*corev1.Endpoints)
	if cur == nil {
		ep := &corev1.Endpoints{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
			ObjectMeta: metav1.ObjectMeta{Name: apiServiceName, Namespace: "default", UID: types.UID(newUID()),
				CreationTimestamp: metav1.NewTime(time.Now().UTC().Truncate(time.Second)),
				Labels:            map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
			Subsets: subsets,
		}
		_, err := m.raw.Create(ctx, res, ep)
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if equality.Semantic.DeepEqual(cur.Subsets, subsets) {
		return nil
	}
	next := cur.DeepCopy()
	next.Subsets = subsets
	rv, _ := strconv.ParseUint(cur.ResourceVersion, 10, 64)
	next.ResourceVersion = ""
	_, err := m.raw.Update(ctx, res, next, rv)
	return err
}
