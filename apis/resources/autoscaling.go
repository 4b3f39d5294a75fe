package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/defaults"
	"github.com/skiffhq/skiff/apis/validation"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

func autoscalingResources() []*Resource {
	return []*Resource{{
		Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler", Plural: "horizontalpodautoscalers",
		Singular: "horizontalpodautoscaler", ShortNames: []string{"hpa"},
		Namespaced: true, Collected: true, HasStatus: true,
		New:      func() apis.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		Default:  defaults.HorizontalPodAutoscaler,
		Validate: validation.HorizontalPodAutoscaler,
		// Resource metrics (cpu, memory) are acted on; Pods, Object,
		// External and ContainerResource metrics warn.
		Acted: append(append([]string{}, metadataActed...), "spec.scaleTargetRef", "spec.scaleTargetRef.*", "spec.minReplicas",
			"spec.maxReplicas", "spec.metrics", "spec.metrics[].type", "spec.metrics[].resource", "spec.metrics[].resource.*",
			"spec.behavior", "spec.behavior.*"),
	}}
}
