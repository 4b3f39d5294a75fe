package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/validation"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func eventResources() []*Resource {
	return []*Resource{{
		Version: "v1", Kind: "Event", Plural: "events", Singular: "event", ShortNames: []string{"ev"},
		Namespaced: true,
		New:        func() apis.Object { return &corev1.Event{} },
		Validate:   validation.Event,
		Fields: func(obj apis.Object) fields.Set {
			e := obj.(*corev1.Event)
			return fields.Set{
				"involvedObject.kind":      e.InvolvedObject.Kind,
				"involvedObject.name":      e.InvolvedObject.Name,
				"involvedObject.namespace": e.InvolvedObject.Namespace,
				"involvedObject.uid":       string(e.InvolvedObject.UID),
				"reason":                   e.Reason,
				"type":                     e.Type,
			}
		},
		Acted: append(metadataActed, "involvedObject.*", "reason", "message", "source.*", "firstTimestamp",
			"lastTimestamp", "count", "type", "eventTime", "reportingComponent", "reportingInstance", "action"),
	}}
}
