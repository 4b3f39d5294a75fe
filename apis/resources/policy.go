package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/validation"
	policyv1 "k8s.io/api/policy/v1"
)

func policyResources() []*Resource {
	return []*Resource{{
		Group: "policy", Version: "v1", Kind: "PodDisruptionBudget", Plural: "poddisruptionbudgets",
		Singular: "poddisruptionbudget", ShortNames: []string{"pdb"},
		Namespaced: true, HasStatus: true,
		New:      func() apis.Object { return &policyv1.PodDisruptionBudget{} },
		Validate: validation.PodDisruptionBudget,
		// The eviction API checks minAvailable / maxUnavailable over the
		// selected pods; unhealthyPodEvictionPolicy is not acted on yet.
		Acted: append(append([]string{}, metadataActed...), "spec.selector", "spec.selector.*", "spec.minAvailable", "spec.maxUnavailable"),
	}}
}
