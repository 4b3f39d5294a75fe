package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/defaults"
	"github.com/skiffhq/skiff/apis/validation"
	corev1 "k8s.io/api/core/v1"
)

func serviceResources() []*Resource {
	return []*Resource{{
		Version: "v1", Kind: "Service", Plural: "services", Singular: "service", ShortNames: []string{"svc"},
		Namespaced: true, Collected: true, HasStatus: true,
		New:      func() apis.Object { return &corev1.Service{} },
		Default:  defaults.Service,
		Validate: validation.Service,
		// Cluster IPs and node ports are allocated, the selector and
		// ports drive the Endpoints; the proxier that acts on the rest
		// (sessionAffinity, externalTrafficPolicy, ...) comes later.
		Acted: append(append([]string{}, metadataActed...), "spec.type", "spec.clusterIP", "spec.clusterIPs", "spec.ipFamilies", "spec.ipFamilyPolicy",
			"spec.selector", "spec.ports", "spec.ports[].*", "spec.publishNotReadyAddresses", "spec.externalName"),
	}, {
		Version: "v1", Kind: "Endpoints", Plural: "endpoints", Singular: "endpoints", ShortNames: []string{"ep"},
		Namespaced: true, Collected: true,
		New:      func() apis.Object { return &corev1.Endpoints{} },
		Validate: validation.Endpoints,
		Acted:    append(metadataActed, "subsets", "subsets[].*"),
	}}
}
