package validation

import (
	"github.com/skiffhq/skiff/apis"
	policyv1 "k8s.io/api/policy/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PodDisruptionBudget checks a budget: one of minAvailable and
// maxUnavailable, each a non-negative count or a percentage up to 100%,
// and a valid selector.
func PodDisruptionBudget(obj, old apis.Object) field.ErrorList {
	p := obj.(*policyv1.PodDisruptionBudget)
	errs := ObjectMeta(obj, old, true, DNSSubdomainName)
	if p.Spec.MinAvailable != nil && p.Spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(specPath, "", "minAvailable and maxUnavailable cannot be both set"))
	}
	if p.Spec.MinAvailable == nil && p.Spec.MaxUnavailable == nil {
		errs = append(errs, field.Required(specPath.Child("minAvailable"), "one of minAvailable and maxUnavailable is needed"))
	}
	for name, v := range map[string]*intstr.IntOrString{"minAvailable": p.Spec.MinAvailable, "maxUnavailable": p.Spec.MaxUnavailable} {
		if v == nil {
			continue
		}
		if _, err := intstr.GetScaledValueFromIntOrPercent(v, 100, true); err != nil || v.Type == intstr.Int && v.IntVal < 0 {
			errs = append(errs, field.Invalid(specPath.Child(name), v.String(), "must be a non-negative integer or a percentage"))
		} else if n, _ := intstr.GetScaledValueFromIntOrPercent(v, 100, true); v.Type == intstr.String && (n < 0 || n > 100) {
			errs = append(errs, field.Invalid(specPath.Child(name), v.String(), "a percentage must be between 0% and 100%"))
		}
	}
	errs = append(errs, metav1validation.ValidateLabelSelector(p.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, specPath.Child("selector"))...)
	return errs
}
