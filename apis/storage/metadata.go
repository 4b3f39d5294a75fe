package storage

import (
	"github.com/skiffhq/skiff/apis/resources"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetadataRecord is a Record that can give its object's metadata without
// decoding the rest of the object (raftfsm's records can).
type MetadataRecord interface {
	Record
	Meta() metav1.Object
}

// PartialMetadata returns the metadata of rec's object, of kind res, as a
// PartialObjectMetadata (what Kubernetes' metadata-only informers hold),
// decoding no more of the object than rec must. It shares rec's maps and
// slices: like rec, it must not be modified.
func PartialMetadata(res *resources.Resource, rec Record) *metav1.PartialObjectMetadata {
	var m metav1.Object
	if mr, ok := rec.(MetadataRecord); ok {
		m = mr.Meta()
	} else {
		m = rec.Object()
	}
	out := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: res.GroupVersion(), Kind: res.Kind}}
	if a, ok := m.(metav1.ObjectMetaAccessor); ok {
		if om, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			out.ObjectMeta = *om
			return out
		}
	}
	out.ObjectMeta = metav1.ObjectMeta{
		Name: m.GetName(), GenerateName: m.GetGenerateName(), Namespace: m.GetNamespace(), UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(),
		Generation: m.GetGeneration(), CreationTimestamp: m.GetCreationTimestamp(), DeletionTimestamp: m.GetDeletionTimestamp(),
		DeletionGracePeriodSeconds: m.GetDeletionGracePeriodSeconds(), Labels: m.GetLabels(), Annotations: m.GetAnnotations(),
		OwnerReferences: m.GetOwnerReferences(), Finalizers: m.GetFinalizers(),
	}
	return out
}
