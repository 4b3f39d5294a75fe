package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/apis/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func joinTokenResources() []*Resource {
	return []*Resource{{
		Group: skiffv1.Group, Version: skiffv1.Version, Kind: "JoinToken", Plural: "jointokens", Singular: "jointoken",
		Internal: true, HasStatus: true,
		New: func() apis.Object { return &skiffv1.JoinToken{} },
		Validate: func(obj, old apis.Object) field.ErrorList {
			t := obj.(*skiffv1.JoinToken)
			errs := validation.ObjectMeta(obj, old, false, validation.DNSSubdomainName)
			spec := field.NewPath("spec")
			switch t.Spec.Role {
			case skiffv1.RoleServer, skiffv1.RoleWorker:
			default:
				errs = append(errs, field.NotSupported(spec.Child("role"), t.Spec.Role, []string{skiffv1.RoleServer, skiffv1.RoleWorker}))
			}
			if len(t.Spec.SecretHash) != 64 {
				errs = append(errs, field.Invalid(spec.Child("secretHash"), "(hidden)", "must be a hex SHA-256 (64 characters)"))
			}
			if old != nil {
				o := old.(*skiffv1.JoinToken)
				if o.Spec.Role != t.Spec.Role || o.Spec.SecretHash != t.Spec.SecretHash {
					errs = append(errs, field.Forbidden(spec, "a token's role and secret are immutable"))
				}
			}
			return errs
		},
		Acted: append(metadataActed, "spec.*"),
	}}
}
