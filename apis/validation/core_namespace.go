package validation

import (
	"github.com/skiffhq/skiff/apis"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Namespace checks a Namespace: its name is a DNS-1123 label.
func Namespace(obj, old apis.Object) field.ErrorList {
	return ObjectMeta(obj, old, false, DNSLabelName)
}
