package endpoints

import (
	"context"
	"fmt"
	"github.com/skiffhq/skiff/apis"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// sync brings the Endpoints of one Service to its pods.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.cfg.Services.Get(ns, name)
	cur, hasCur := c.cfg.Endpoints.Get(ns, name)
	if !ok {
		// The Service is gone: so are its Endpoints.
		if !hasCur {
			return nil
		}
		err := c.cfg.Writer.Delete(ctx, "Endpoints", ns, name, storage.Preconditions{UID: string(cur.GetUID())})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("deleting the endpoints of gone service %s: %w", key, err)
		}
		return nil
	}
	svc := obj.(*corev1.Service)
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil // their Endpoints, if any, are someone else's
	}
	subsets := Subsets(svc, c.matching(svc))
	if !hasCur {
		ep := &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(svc.Labels)},
			Subsets:    subsets,
		}
		// Already there means the cache lags a create of ours; its
		// arrival there syncs this key again.
		if _, err := c.cfg.Writer.Create(ctx, "Endpoints", ep); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating the endpoints of %s: %w", key, err)
		}
		return nil
	}
	ep := cur.(*corev1.Endpoints)
	if equality.Semantic.DeepEqual(ep.Subsets, subsets) && labels.Equals(ep.Labels, svc.Labels) {
		return nil
	}
	next := ep.DeepCopy()
	next.Subsets, next.Labels = subsets, maps.Clone(svc.Labels)
	if _, err := c.cfg.Writer.Update(ctx, "Endpoints", next); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating the endpoints of %s: %w", key, err)
	}
	return nil
}

// matching returns the cached pods svc's selector matches.
func (c *Controller) matching(svc *corev1.Service) []*corev1.Pod {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var out []*corev1.Pod
	for _, obj := range c.cfg.Pods.ByIndex(reconcile.IndexNamespace, svc.Namespace) {
		if pod := obj.(*corev1.Pod); sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, pod)
		}
	}
	return out
}

// Subsets computes the endpoint subsets of svc over pods (those its
// selector matches): addresses grouped by the ports they resolve to, ready
// ones in Addresses, the others in NotReadyAddresses, all sorted so that
// the same pods always give the same object. A pod without an IP, finished
// or being deleted is left out; a pod lacking a named targetPort is left
// out of that port.
func Subsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	type group struct {
		ports           []corev1.EndpointPort
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	for _, pod := range pods {
		if pod.Status.PodIP == "" || pod.DeletionTimestamp != nil ||
			pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		var ports []corev1.EndpointPort
		for _, sp := range svc.Spec.Ports {
			n, ok := targetPort(pod, sp)
			if !ok {
				continue
			}
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: n, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		key := portsKey(ports)
		g := groups[key]
		if g == nil {
			g = &group{ports: ports}
			groups[key] = g
		}
		addr := corev1.EndpointAddress{IP: pod.Status.PodIP,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}}
		if pod.Spec.NodeName != "" {
			node := pod.Spec.NodeName
			addr.NodeName = &node
		}
		if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name {
			addr.Hostname = pod.Spec.Hostname
		}
		if apis.PodReady(pod) || svc.Spec.PublishNotReadyAddresses {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	var out []corev1.EndpointSubset
	for _, key := range slices.Sorted(maps.Keys(groups)) {
		g := groups[key]
		byIP := func(a, b corev1.EndpointAddress) int { return strings.Compare(a.IP, b.IP) }
		slices.SortFunc(g.ready, byIP)
		slices.SortFunc(g.notReady, byIP)
		out = append(out, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out
}

// targetPort resolves a Service port on one pod: a number is taken as
// is; a name is looked up among the pod's container ports of the same
// protocol.
func targetPort(pod *corev1.Pod, sp corev1.ServicePort) (int32, bool) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal, true
	case tp.Type == intstr.Int:
		return sp.Port, true
	}
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			pp := p.Protocol
			if pp == "" {
				pp = corev1.ProtocolTCP
			}
			if p.Name == tp.StrVal && pp == proto {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

func portsKey(ports []corev1.EndpointPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = p.Name + "/" + string(p.Protocol) + "/" + strconv.Itoa(int(p.Port))
	}
	return strings.Join(parts, ",")
}
