package reconcile

import (
	"strings"

	"github.com/skiffhq/skiff/apis"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Key is the work-queue and cache key of obj: "namespace/name", or "name"
// for a cluster-scoped object.
func Key(obj metav1.Object) string { return JoinKey(obj.GetNamespace(), obj.GetName()) }

// JoinKey is the key of the object namespace/name.
func JoinKey(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// SplitKey is the inverse of Key.
func SplitKey(key string) (namespace, name string) {
	if i := strings.IndexByte(key, '/'); i >= 0 {
		return key[:i], key[i+1:]
	}
	return "", key
}

// As converts cached objects to their concrete type; objects of another
// type are skipped.
func As[T apis.Object](objs []apis.Object) []T {
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
