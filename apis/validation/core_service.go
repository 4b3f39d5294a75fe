package validation

import (
	"fmt"
	"net/netip"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	serviceTypes       = sets.New(string(corev1.ServiceTypeClusterIP), string(corev1.ServiceTypeNodePort), string(corev1.ServiceTypeLoadBalancer), string(corev1.ServiceTypeExternalName))
	sessionAffinities  = sets.New(string(corev1.ServiceAffinityNone), string(corev1.ServiceAffinityClientIP))
	maxAffinityTimeout = int32(86400)
)

// Service checks a Service: its name is a DNS-1035 label (it becomes a DNS
// name), ports are unique and in range, and a cluster IP cannot change.
func Service(obj, old apis.Object) field.ErrorList {
	svc := obj.(*corev1.Service)
	errs := ObjectMeta(obj, old, true, DNS1035Name)
	sp := specPath
	if svc.Spec.Type != "" && !serviceTypes.Has(string(svc.Spec.Type)) {
		errs = append(errs, field.NotSupported(sp.Child("type"), svc.Spec.Type, sets.List(serviceTypes)))
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		for _, msg := range utilvalidation.IsDNS1123Subdomain(svc.Spec.ExternalName) {
			errs = append(errs, field.Invalid(sp.Child("externalName"), svc.Spec.ExternalName, msg))
		}
	} else if len(svc.Spec.Ports) == 0 && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		errs = append(errs, field.Required(sp.Child("ports"), "a service needs at least one port"))
	}
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	if svc.Spec.ClusterIP != "" && !headless {
		if _, err := netip.ParseAddr(svc.Spec.ClusterIP); err != nil {
			errs = append(errs, field.Invalid(sp.Child("clusterIP"), svc.Spec.ClusterIP, "must be an IP address, \"None\" or empty"))
		}
	}
	if headless && (svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer) {
		errs = append(errs, field.Invalid(sp.Child("clusterIP"), "None", "may not be None for type "+string(svc.Spec.Type)))
	}
	names := sets.New[string]()
	seen := sets.New[string]()
	for i, port := range svc.Spec.Ports {
		pp := sp.Child("ports").Index(i)
		if len(svc.Spec.Ports) > 1 && port.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), "every port needs a name when there is more than one"))
		}
		if port.Name != "" {
			for _, msg := range utilvalidation.IsDNS1123Label(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
			if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names.Insert(port.Name)
		}
		errs = append(errs, portNumber(port.Port, pp.Child("port"))...)
		proto := string(port.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		if !protocols.Has(proto) {
			errs = append(errs, field.NotSupported(pp.Child("protocol"), port.Protocol, sets.List(protocols)))
		}
		key := fmt.Sprintf("%s/%d", proto, port.Port)
		if seen.Has(key) {
			errs = append(errs, field.Duplicate(pp, key))
		}
		seen.Insert(key)
		if port.TargetPort.Type == intstr.String {
			for _, msg := range utilvalidation.IsValidPortName(port.TargetPort.StrVal) {
				errs = append(errs, field.Invalid(pp.Child("targetPort"), port.TargetPort.StrVal, msg))
			}
		} else if port.TargetPort.IntVal != 0 {
			errs = append(errs, portNumber(port.TargetPort.IntVal, pp.Child("targetPort"))...)
		}
		if port.NodePort != 0 {
			if svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), "may only be set for type NodePort or LoadBalancer"))
			}
			errs = append(errs, portNumber(port.NodePort, pp.Child("nodePort"))...)
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(svc.Spec.Selector, sp.Child("selector"))...)
	if a := svc.Spec.SessionAffinity; a != "" && !sessionAffinities.Has(string(a)) {
		errs = append(errs, field.NotSupported(sp.Child("sessionAffinity"), a, sets.List(sessionAffinities)))
	}
	if cfg := svc.Spec.SessionAffinityConfig; cfg != nil && cfg.ClientIP != nil && cfg.ClientIP.TimeoutSeconds != nil {
		if t := *cfg.ClientIP.TimeoutSeconds; t <= 0 || t > maxAffinityTimeout {
			errs = append(errs, field.Invalid(sp.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t, "must be greater than 0 and at most 86400"))
		}
		if svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
			errs = append(errs, field.Invalid(sp.Child("sessionAffinityConfig"), "", "needs sessionAffinity ClientIP"))
		}
	}
	if old != nil {
		o := old.(*corev1.Service)
		if o.Spec.ClusterIP != "" && svc.Spec.ClusterIP != o.Spec.ClusterIP {
			errs = append(errs, field.Invalid(sp.Child("clusterIP"), svc.Spec.ClusterIP, "field is immutable"))
		}
	}
	return errs
}

// Endpoints checks addresses and ports of an Endpoints object.
func Endpoints(obj, old apis.Object) field.ErrorList {
	ep := obj.(*corev1.Endpoints)
	errs := ObjectMeta(obj, old, true, DNSSubdomainName)
	for i, ss := range ep.Subsets {
		p := field.NewPath("subsets").Index(i)
		for j, a := range ss.Addresses {
			if _, err := netip.ParseAddr(a.IP); err != nil {
				errs = append(errs, field.Invalid(p.Child("addresses").Index(j).Child("ip"), a.IP, "must be an IP address"))
			}
		}
		for j, a := range ss.NotReadyAddresses {
			if _, err := netip.ParseAddr(a.IP); err != nil {
				errs = append(errs, field.Invalid(p.Child("notReadyAddresses").Index(j).Child("ip"), a.IP, "must be an IP address"))
			}
		}
		for j, port := range ss.Ports {
			errs = append(errs, portNumber(port.Port, p.Child("ports").Index(j).Child("port"))...)
		}
	}
	return errs
}
