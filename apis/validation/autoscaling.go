package validation

import (
	"github.com/skiffhq/skiff/apis"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	metricSourceTypes = sets.New(string(autoscalingv2.ResourceMetricSourceType), string(autoscalingv2.PodsMetricSourceType), string(autoscalingv2.ObjectMetricSourceType), string(autoscalingv2.ExternalMetricSourceType), string(autoscalingv2.ContainerResourceMetricSourceType))
	targetTypes       = sets.New(string(autoscalingv2.UtilizationMetricType), string(autoscalingv2.AverageValueMetricType), string(autoscalingv2.ValueMetricType))
	scalingPolicies   = sets.New(string(autoscalingv2.PodsScalingPolicy), string(autoscalingv2.PercentScalingPolicy))
	selectPolicies    = sets.New(string(autoscalingv2.MaxChangePolicySelect), string(autoscalingv2.MinChangePolicySelect), string(autoscalingv2.DisabledPolicySelect))
)

// HorizontalPodAutoscaler checks replica bounds, the target reference,
// metrics and scaling behavior.
func HorizontalPodAutoscaler(obj, old apis.Object) field.ErrorList {
	h := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	errs := ObjectMeta(obj, old, true, DNSSubdomainName)
	ref := h.Spec.ScaleTargetRef
	if ref.Kind == "" {
		errs = append(errs, field.Required(specPath.Child("scaleTargetRef", "kind"), ""))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(specPath.Child("scaleTargetRef", "name"), ""))
	}
	minReplicas := int32(1)
	if h.Spec.MinReplicas != nil {
		minReplicas = *h.Spec.MinReplicas
		if minReplicas < 1 {
			errs = append(errs, field.Invalid(specPath.Child("minReplicas"), minReplicas, "must be greater than or equal to 1"))
		}
	}
	if h.Spec.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), h.Spec.MaxReplicas, "must be greater than or equal to 1"))
	} else if h.Spec.MaxReplicas < minReplicas {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), h.Spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	for i, m := range h.Spec.Metrics {
		mp := specPath.Child("metrics").Index(i)
		if !metricSourceTypes.Has(string(m.Type)) {
			errs = append(errs, field.NotSupported(mp.Child("type"), m.Type, sets.List(metricSourceTypes)))
			continue
		}
		if m.Type == autoscalingv2.ResourceMetricSourceType {
			if m.Resource == nil {
				errs = append(errs, field.Required(mp.Child("resource"), "must populate resource for type Resource"))
				continue
			}
			errs = append(errs, metricTarget(m.Resource.Target, mp.Child("resource", "target"))...)
		}
	}
	if b := h.Spec.Behavior; b != nil {
		errs = append(errs, scalingRules(b.ScaleUp, specPath.Child("behavior", "scaleUp"))...)
		errs = append(errs, scalingRules(b.ScaleDown, specPath.Child("behavior", "scaleDown"))...)
	}
	return errs
}

func metricTarget(t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !targetTypes.Has(string(t.Type)) {
		return append(errs, field.NotSupported(p.Child("type"), t.Type, sets.List(targetTypes)))
	}
	switch t.Type {
	case autoscalingv2.UtilizationMetricType:
		if t.AverageUtilization == nil || *t.AverageUtilization <= 0 {
			errs = append(errs, field.Required(p.Child("averageUtilization"), "must be a positive percentage for type Utilization"))
		}
	case autoscalingv2.AverageValueMetricType:
		if t.AverageValue == nil || t.AverageValue.Sign() <= 0 {
			errs = append(errs, field.Required(p.Child("averageValue"), "must be positive for type AverageValue"))
		}
	case autoscalingv2.ValueMetricType:
		if t.Value == nil || t.Value.Sign() <= 0 {
			errs = append(errs, field.Required(p.Child("value"), "must be positive for type Value"))
		}
	}
	return errs
}

func scalingRules(r *autoscalingv2.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > 3600) {
		errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w, "must be between 0 and 3600"))
	}
	if s := r.SelectPolicy; s != nil && !selectPolicies.Has(string(*s)) {
		errs = append(errs, field.NotSupported(p.Child("selectPolicy"), *s, sets.List(selectPolicies)))
	}
	for i, pol := range r.Policies {
		pp := p.Child("policies").Index(i)
		if !scalingPolicies.Has(string(pol.Type)) {
			errs = append(errs, field.NotSupported(pp.Child("type"), pol.Type, sets.List(scalingPolicies)))
		}
		if pol.Value <= 0 {
			errs = append(errs, field.Invalid(pp.Child("value"), pol.Value, "must be greater than zero"))
		}
		if pol.PeriodSeconds <= 0 || pol.PeriodSeconds > 1800 {
			errs = append(errs, field.Invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, "must be between 1 and 1800"))
		}
	}
	return errs
}
