package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/defaults"
	"github.com/skiffhq/skiff/apis/validation"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func podResources() []*Resource {
	return []*Resource{{
		Version: "v1", Kind: "Pod", Plural: "pods", Singular: "pod", ShortNames: []string{"po"},
		Namespaced: true, HasStatus: true,
		New:      func() apis.Object { return &corev1.Pod{} },
		Default:  defaults.Pod,
		Validate: validation.Pod,
		Fields: func(obj apis.Object) fields.Set {
			p := obj.(*corev1.Pod)
			return fields.Set{
				"spec.nodeName":      p.Spec.NodeName,
				"spec.schedulerName": p.Spec.SchedulerName,
				"status.phase":       string(p.Status.Phase),
				"status.podIP":       p.Status.PodIP,
			}
		},
		Acted: metadataActed,
	}}
}
