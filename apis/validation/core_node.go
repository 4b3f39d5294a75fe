package validation

import (
	"net/netip"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Node checks a Node: taints, and a pod CIDR that parses and never changes
// once set.
func Node(obj, old apis.Object) field.ErrorList {
	n := obj.(*corev1.Node)
	errs := ObjectMeta(obj, old, false, DNSSubdomainName)
	for i, t := range n.Spec.Taints {
		errs = append(errs, Taint(t, specPath.Child("taints").Index(i))...)
	}
	if n.Spec.PodCIDR != "" {
		if _, err := netip.ParsePrefix(n.Spec.PodCIDR); err != nil {
			errs = append(errs, field.Invalid(specPath.Child("podCIDR"), n.Spec.PodCIDR, "must be a CIDR such as 10.42.1.0/24"))
		}
	}
	if old != nil {
		o := old.(*corev1.Node)
		if o.Spec.PodCIDR != "" && n.Spec.PodCIDR != o.Spec.PodCIDR {
			errs = append(errs, field.Forbidden(specPath.Child("podCIDR"), "may not change once set"))
		}
	}
	return errs
}
