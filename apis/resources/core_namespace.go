package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/defaults"
	"github.com/skiffhq/skiff/apis/validation"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func namespaceResources() []*Resource {
	return []*Resource{{
		Version: "v1", Kind: "Namespace", Plural: "namespaces", Singular: "namespace", ShortNames: []string{"ns"},
		HasStatus: true,
		New:       func() apis.Object { return &corev1.Namespace{} },
		Default:   defaults.Namespace,
		Validate:  validation.Namespace,
		Fields: func(obj apis.Object) fields.Set {
			return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
		},
		Acted: append(metadataActed, "spec.finalizers"),
	}}
}

// metadataActed are the metadata fields skiff honours on every kind.
var metadataActed = []string{
	"metadata.name", "metadata.namespace", "metadata.labels.*", "metadata.annotations.*",
	"metadata.resourceVersion", "metadata.uid", "metadata.generateName",
	"metadata.creationTimestamp", "metadata.generation", "metadata.ownerReferences",
	"metadata.ownerReferences[].*", "metadata.finalizers", "metadata.deletionTimestamp",
	"metadata.deletionGracePeriodSeconds", "metadata.managedFields", "metadata.managedFields[].*",
	"metadata.selfLink",
}
