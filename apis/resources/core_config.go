package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/defaults"
	"github.com/skiffhq/skiff/apis/validation"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func configResources() []*Resource {
	return []*Resource{{
		Version: "v1", Kind: "ConfigMap", Plural: "configmaps", Singular: "configmap", ShortNames: []string{"cm"},
		Namespaced: true, Collected: true,
		New:      func() apis.Object { return &corev1.ConfigMap{} },
		Validate: validation.ConfigMap,
		Acted:    append(metadataActed, "data.*", "binaryData.*", "immutable"),
	}, {
		Version: "v1", Kind: "Secret", Plural: "secrets", Singular: "secret",
		Namespaced: true, Collected: true,
		New:      func() apis.Object { return &corev1.Secret{} },
		Default:  defaults.Secret,
		Validate: validation.Secret,
		Fields: func(obj apis.Object) fields.Set {
			return fields.Set{"type": string(obj.(*corev1.Secret).Type)}
		},
		Acted: append(metadataActed, "data.*", "stringData.*", "type", "immutable"),
	}}
}
