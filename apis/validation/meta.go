package validation

import (
	"github.com/skiffhq/skiff/apis"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// NameRule is how a kind's names are checked.
type NameRule = apimachineryvalidation.ValidateNameFunc

// Name rules used by the kinds skiff serves.
var (
	DNSSubdomainName NameRule = apimachineryvalidation.NameIsDNSSubdomain
	DNSLabelName     NameRule = apimachineryvalidation.NameIsDNSLabel
	DNS1035Name      NameRule = apimachineryvalidation.NameIsDNS1035Label
)

var metadataPath = field.NewPath("metadata")

// ObjectMeta checks name, namespace, labels, annotations, owner references
// and finalizers on create, and what may not change on update.
func ObjectMeta(obj, old apis.Object, namespaced bool, rule NameRule) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMetaAccessor(obj, namespaced, rule, metadataPath)
	if old != nil {
		errs = append(errs, apimachineryvalidation.ValidateObjectMetaAccessorUpdate(obj, old, metadataPath)...)
	}
	return errs
}

func nonNegative(v int64, path *field.Path) field.ErrorList {
	if v < 0 {
		return field.ErrorList{field.Invalid(path, v, "must be greater than or equal to 0")}
	}
	return nil
}

func nonNegative32(v *int32, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return nonNegative(int64(*v), path)
}
