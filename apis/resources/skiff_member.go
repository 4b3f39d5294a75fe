package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/apis/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func memberResources() []*Resource {
	return []*Resource{{
		Group: skiffv1.Group, Version: skiffv1.Version, Kind: "Member", Plural: "members", Singular: "member",
		Internal: true,
		New:      func() apis.Object { return &skiffv1.Member{} },
		Validate: func(obj, old apis.Object) field.ErrorList {
			m := obj.(*skiffv1.Member)
			errs := validation.ObjectMeta(obj, old, false, validation.DNSSubdomainName)
			if m.Spec.RaftAddress == "" {
				errs = append(errs, field.Required(field.NewPath("spec", "raftAddress"), ""))
			}
			if m.Spec.APIAddress == "" {
				errs = append(errs, field.Required(field.NewPath("spec", "apiAddress"), ""))
			}
			return errs
		},
		Acted: append(metadataActed, "spec.*"),
	}}
}
