package defaults

import (
	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
)

// Namespace marks a namespace Active, as Kubernetes does on create.
func Namespace(obj apis.Object) {
	ns := obj.(*corev1.Namespace)
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}
