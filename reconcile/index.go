package reconcile

import (
	"github.com/skiffhq/skiff/apis"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IndexFunc returns the values under which an object is indexed (none,
// one or several).
type IndexFunc func(obj apis.Object) []string

// Index names with a fixed meaning: an informer keeps at most one index of
// each name, so controllers sharing an informer may all ask for one.
const (
	// IndexNamespace indexes by metadata.namespace; every informer has it.
	IndexNamespace = "namespace"
	// IndexOwnerUID indexes by the UID of every ownerReference.
	IndexOwnerUID = "ownerUID"
	// IndexControllerUID indexes by the UID of the controlling
	// ownerReference; objects without one are indexed under
	// OrphanIndexValue(namespace).
	IndexControllerUID = "controllerUID"
)

// NamespaceIndex is the IndexFunc of IndexNamespace.
func NamespaceIndex(obj apis.Object) []string { return []string{obj.GetNamespace()} }

// OwnerUIDIndex is the IndexFunc of IndexOwnerUID.
func OwnerUIDIndex(obj apis.Object) []string {
	refs := obj.GetOwnerReferences()
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, string(r.UID))
	}
	return out
}

// ControllerUIDIndex is the IndexFunc of IndexControllerUID.
func ControllerUIDIndex(obj apis.Object) []string {
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		return []string{string(ref.UID)}
	}
	return []string{OrphanIndexValue(obj.GetNamespace())}
}

// OrphanIndexValue is the IndexControllerUID value of the objects of a
// namespace that have no controller. It cannot be a UID.
func OrphanIndexValue(namespace string) string { return "orphan/" + namespace }
