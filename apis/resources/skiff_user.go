package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/apis/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func userResources() []*Resource {
	return []*Resource{{
		Group: skiffv1.Group, Version: skiffv1.Version, Kind: "User", Plural: "users", Singular: "user",
		Internal: true,
		New:      func() apis.Object { return &skiffv1.User{} },
		Validate: func(obj, old apis.Object) field.ErrorList {
			u := obj.(*skiffv1.User)
			errs := validation.ObjectMeta(obj, old, false, validation.DNSLabelName)
			switch u.Spec.Role {
			case "admin", "edit", "view":
			default:
				errs = append(errs, field.NotSupported(field.NewPath("spec", "role"), u.Spec.Role, []string{"admin", "edit", "view"}))
			}
			if u.Spec.Namespace != "" {
				for _, msg := range validation.DNSLabelName(u.Spec.Namespace, false) {
					errs = append(errs, field.Invalid(field.NewPath("spec", "namespace"), u.Spec.Namespace, msg))
				}
			}
			return errs
		},
		Acted: append(metadataActed, "spec.*"),
	}}
}
