package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/defaults"
	"github.com/skiffhq/skiff/apis/validation"
	appsv1 "k8s.io/api/apps/v1"
)

func appsResources() []*Resource {
	return []*Resource{{
		Group: "apps", Version: "v1", Kind: "Deployment", Plural: "deployments", Singular: "deployment", ShortNames: []string{"deploy"},
		Namespaced: true, Collected: true, HasStatus: true,
		New:      func() apis.Object { return &appsv1.Deployment{} },
		Default:  defaults.Deployment,
		Validate: validation.Deployment,
		Acted: append(append(append([]string{}, metadataActed...),
			"spec.replicas", "spec.selector", "spec.strategy", "spec.minReadySeconds",
			"spec.progressDeadlineSeconds", "spec.revisionHistoryLimit", "spec.paused",
			"spec.template.metadata.labels", "spec.template.metadata.annotations", "spec.template.metadata.name",
			"spec.template.metadata.namespace"), podSpecActed("spec.template.spec")...),
	}, {
		Group: "apps", Version: "v1", Kind: "ReplicaSet", Plural: "replicasets", Singular: "replicaset", ShortNames: []string{"rs"},
		Namespaced: true, Collected: true, HasStatus: true,
		New:      func() apis.Object { return &appsv1.ReplicaSet{} },
		Default:  defaults.ReplicaSet,
		Validate: validation.ReplicaSet,
		Acted: append(append(append([]string{}, metadataActed...),
			"spec.replicas", "spec.selector", "spec.minReadySeconds",
			"spec.template.metadata.labels", "spec.template.metadata.annotations", "spec.template.metadata.name",
			"spec.template.metadata.namespace"), podSpecActed("spec.template.spec")...),
	}}
}
