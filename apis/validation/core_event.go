package validation

import (
	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Event checks an Event: it names the object it is about and has a type.
func Event(obj, old apis.Object) field.ErrorList {
	ev := obj.(*corev1.Event)
	errs := ObjectMeta(obj, old, true, DNSSubdomainName)
	if ev.InvolvedObject.Kind == "" || ev.InvolvedObject.Name == "" {
		errs = append(errs, field.Required(field.NewPath("involvedObject"), "kind and name of the object the event is about"))
	}
	if ev.Type != "" && ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		errs = append(errs, field.NotSupported(field.NewPath("type"), ev.Type, []string{"Normal", "Warning"}))
	}
	if ev.Count < 0 {
		errs = append(errs, field.Invalid(field.NewPath("count"), ev.Count, "must be greater than or equal to 0"))
	}
	return errs
}
