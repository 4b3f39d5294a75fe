package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// metricsResources are the agents' usage reports, in the shape of the
// Kubernetes metrics API (metrics.k8s.io/v1beta1): a PodMetrics per pod, a
// NodeMetrics per node, rewritten every reporting period.
func metricsResources() []*Resource {
	validate := func(namespaced bool) func(obj, old apis.Object) field.ErrorList {
		return func(obj, old apis.Object) field.ErrorList {
			return validation.ObjectMeta(obj, old, namespaced, validation.DNSSubdomainName)
		}
	}
	return []*Resource{{
		Group: "metrics.k8s.io", Version: "v1beta1", Kind: "PodMetrics", Plural: "pods", Singular: "podmetrics",
		Namespaced: true,
		New:        func() apis.Object { return &metricsv1beta1.PodMetrics{} },
		Validate:   validate(true),
		Acted:      append(metadataActed, "timestamp", "window", "containers"),
	}, {
		Group: "metrics.k8s.io", Version: "v1beta1", Kind: "NodeMetrics", Plural: "nodes", Singular: "nodemetrics",
		New:      func() apis.Object { return &metricsv1beta1.NodeMetrics{} },
		Validate: validate(false),
		Acted:    append(metadataActed, "timestamp", "window", "usage"),
	}}
}
