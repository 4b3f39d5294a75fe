package raftfsm

import (
	"strconv"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The API server picks a Service's cluster IP and node ports (from
// --service-cidr and --service-node-port-range) before it writes; the FSM
// only makes sure that no two Services hold the same one. Checked here, in
// Apply, the rule holds whatever master picked and however stale its view
// was: the loser of a race gets an Invalid error naming the field and
// picks again. A deleted Service frees what it held with its record.

var (
	serviceClusterIPIndex = stringIndex(func(r *record) (string, bool) {
		svc, ok := r.Object().(*corev1.Service)
		if !ok || !hasClusterIP(svc) {
			return "", false
		}
		return svc.Spec.ClusterIP, true
	})
	serviceNodePortIndex = multiIndex(func(r *record) []string {
		svc, ok := r.Object().(*corev1.Service)
		if !ok {
			return nil
		}
		return nodePorts(svc)
	})
)

func hasClusterIP(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

// nodePorts are the distinct node ports a Service holds. One port number
// serves a Service's TCP and UDP port of the same number, as in
// Kubernetes, so the number is the key, not the protocol.
func nodePorts(svc *corev1.Service) []string {
	var out []string
	for _, p := range svc.Spec.Ports {
		if p.NodePort == 0 {
			continue
		}
		v := strconv.Itoa(int(p.NodePort))
		dup := false
		for _, o := range out {
			dup = dup || o == v
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

// admitService refuses a Service whose cluster IP or a node port another
// Service holds.
func (t *writeTxn) admitService(obj apis.Object) error {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	var errs field.ErrorList
	if hasClusterIP(svc) {
		if holder := t.serviceHolding(indexClusterIP, svc.Spec.ClusterIP, svc); holder != "" {
			errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIP"), svc.Spec.ClusterIP,
				"provided IP is already allocated (to service "+holder+")"))
		}
	}
	for i, p := range svc.Spec.Ports {
		if p.NodePort == 0 {
			continue
		}
		if holder := t.serviceHolding(indexNodePort, strconv.Itoa(int(p.NodePort)), svc); holder != "" {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort,
				"provided port is already allocated (to service "+holder+")"))
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, errs)
	}
	return nil
}

// serviceHolding returns namespace/name of a Service other than svc that
// holds value in index, or "".
func (t *writeTxn) serviceHolding(index, value string, svc *corev1.Service) string {
	it, err := t.txn.Get("Service", index, value)
	if err != nil {
		return ""
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		o := raw.(*record).meta
		if o.GetNamespace() != svc.Namespace || o.GetName() != svc.Name {
			return o.GetNamespace() + "/" + o.GetName()
		}
	}
	return ""
}
