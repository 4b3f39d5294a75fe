package validation

import (
	"github.com/skiffhq/skiff/apis"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	corev1 "k8s.io/api/core/v1"
)

// Deployment checks a Deployment: selector matches the template, replicas
// are not negative, the rolling update can make progress.
func Deployment(obj, old apis.Object) field.ErrorList {
	d := obj.(*appsv1.Deployment)
	errs := ObjectMeta(obj, old, true, DNSSubdomainName)
	errs = append(errs, selectorAndTemplate(d.Spec.Selector, &d.Spec.Template, specPath)...)
	errs = append(errs, nonNegative32(d.Spec.Replicas, specPath.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(d.Spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	errs = append(errs, nonNegative32(d.Spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	if d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds <= d.Spec.MinReadySeconds {
		errs = append(errs, field.Invalid(specPath.Child("progressDeadlineSeconds"), *d.Spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
	}
	sp := specPath.Child("strategy")
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if d.Spec.Strategy.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(sp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType, "":
		if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
			errs = append(errs, rollingUpdate(ru.MaxSurge, ru.MaxUnavailable, sp.Child("rollingUpdate"))...)
		}
	default:
		errs = append(errs, field.NotSupported(sp.Child("type"), d.Spec.Strategy.Type, []string{"Recreate", "RollingUpdate"}))
	}
	if old != nil {
		o := old.(*appsv1.Deployment)
		if !equality.Semantic.DeepEqual(d.Spec.Selector, o.Spec.Selector) {
			errs = append(errs, field.Invalid(specPath.Child("selector"), d.Spec.Selector, "field is immutable"))
		}
	}
	return errs
}

func rollingUpdate(maxSurge, maxUnavailable *intstr.IntOrString, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	surge := intOrPercent(maxSurge, p.Child("maxSurge"), &errs)
	unavail := intOrPercent(maxUnavailable, p.Child("maxUnavailable"), &errs)
	if maxUnavailable != nil && maxUnavailable.Type == intstr.String && unavail > 100 {
		errs = append(errs, field.Invalid(p.Child("maxUnavailable"), maxUnavailable.String(), "must not be greater than 100%"))
	}
	if maxSurge != nil && maxUnavailable != nil && surge == 0 && unavail == 0 {
		errs = append(errs, field.Invalid(p.Child("maxUnavailable"), maxUnavailable.String(), "may not be 0 when `maxSurge` is 0"))
	}
	return errs
}

// intOrPercent checks an int or "N%" value and returns its number.
func intOrPercent(v *intstr.IntOrString, p *field.Path, errs *field.ErrorList) int {
	if v == nil {
		return -1
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, 100, false)
	if err != nil || (v.Type == intstr.String && !isPercent(v.StrVal)) {
		*errs = append(*errs, field.Invalid(p, v.String(), "must be an integer or a percentage such as '25%'"))
		return -1
	}
	if n < 0 {
		*errs = append(*errs, field.Invalid(p, v.String(), "must be greater than or equal to 0"))
	}
	return n
}

func isPercent(s string) bool {
	if len(s) < 2 || s[len(s)-1] != '%' {
		return false
	}
	for _, c := range s[:len(s)-1] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ReplicaSet checks a ReplicaSet.
func ReplicaSet(obj, old apis.Object) field.ErrorList {
	rs := obj.(*appsv1.ReplicaSet)
	errs := ObjectMeta(obj, old, true, DNSSubdomainName)
	errs = append(errs, selectorAndTemplate(rs.Spec.Selector, &rs.Spec.Template, specPath)...)
	errs = append(errs, nonNegative32(rs.Spec.Replicas, specPath.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(rs.Spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	if old != nil {
		o := old.(*appsv1.ReplicaSet)
		if !equality.Semantic.DeepEqual(rs.Spec.Selector, o.Spec.Selector) {
			errs = append(errs, field.Invalid(specPath.Child("selector"), rs.Spec.Selector, "field is immutable"))
		}
	}
	return errs
}

func selectorAndTemplate(sel *metav1.LabelSelector, t *corev1.PodTemplateSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return append(errs, field.Required(p.Child("selector"), "a selector that matches the template's labels"))
	}
	errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
	errs = append(errs, PodTemplate(t, p.Child("template"))...)
	if len(errs) > 0 {
		return errs
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return append(errs, field.Invalid(p.Child("selector"), sel, err.Error()))
	}
	if !s.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	return errs
}
