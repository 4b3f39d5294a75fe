package resources

import (
	"strconv"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/validation"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func nodeResources() []*Resource {
	return []*Resource{{
		Version: "v1", Kind: "Node", Plural: "nodes", Singular: "node", ShortNames: []string{"no"},
		HasStatus: true, StatusOnCreate: true,
		New:      func() apis.Object { return &corev1.Node{} },
		Validate: validation.Node,
		Fields: func(obj apis.Object) fields.Set {
			return fields.Set{"spec.unschedulable": strconv.FormatBool(obj.(*corev1.Node).Spec.Unschedulable)}
		},
		Acted: append(append([]string{}, metadataActed...),
			"spec.unschedulable", "spec.taints", "spec.podCIDR", "spec.podCIDRs", "status.*"),
	}}
}
