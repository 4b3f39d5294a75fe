package apis

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Object is any stored resource: a Kubernetes-style type with ObjectMeta.
// Objects handed out by the store are shared and must be treated as
// read-only; call DeepCopyObject before changing one.
type Object interface {
	runtime.Object
	metav1.Object
}

// Key names one object of a kind. Namespace is empty for cluster-scoped kinds.
type Key struct {
	Kind      string
	Namespace string
	Name      string
}

func (k Key) String() string {
	if k.Namespace == "" {
		return k.Kind + "/" + k.Name
	}
	return k.Kind + "/" + k.Namespace + "/" + k.Name
}

// KeyOf returns the key of obj; kind must be the object's registered kind.
func KeyOf(kind string, obj metav1.Object) Key {
	return Key{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}
