package validation

import (
	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxConfigBytes is Kubernetes' limit on a ConfigMap's or Secret's data.
const maxConfigBytes = 1024 * 1024

// ConfigMap checks keys (config keys: letters, digits, '-', '_', '.'), the
// 1 MiB size limit and immutability.
func ConfigMap(obj, old apis.Object) field.ErrorList {
	cm := obj.(*corev1.ConfigMap)
	errs := ObjectMeta(obj, old, true, DNSSubdomainName)
	size := 0
	for k, v := range cm.Data {
		errs = append(errs, configKey(k, field.NewPath("data").Key(k))...)
		if _, dup := cm.BinaryData[k]; dup {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(k), k, "duplicate of key present in data"))
		}
		size += len(k) + len(v)
	}
	for k, v := range cm.BinaryData {
		errs = append(errs, configKey(k, field.NewPath("binaryData").Key(k))...)
		size += len(k) + len(v)
	}
	if size > maxConfigBytes {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", maxConfigBytes))
	}
	if old != nil {
		o := old.(*corev1.ConfigMap)
		if o.Immutable != nil && *o.Immutable {
			if !equality.Semantic.DeepEqual(cm.Data, o.Data) || !equality.Semantic.DeepEqual(cm.BinaryData, o.BinaryData) {
				errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
			}
			if cm.Immutable == nil || !*cm.Immutable {
				errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
			}
		}
	}
	return errs
}

// Secret checks keys, size and immutability. stringData has been merged
// into data by defaulting before this runs.
func Secret(obj, old apis.Object) field.ErrorList {
	s := obj.(*corev1.Secret)
	errs := ObjectMeta(obj, old, true, DNSSubdomainName)
	size := 0
	for k, v := range s.Data {
		errs = append(errs, configKey(k, field.NewPath("data").Key(k))...)
		size += len(k) + len(v)
	}
	if size > maxConfigBytes {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", maxConfigBytes))
	}
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		if _, ok := s.Data[corev1.DockerConfigJsonKey]; !ok {
			errs = append(errs, field.Required(field.NewPath("data").Key(corev1.DockerConfigJsonKey), "a kubernetes.io/dockerconfigjson secret needs it"))
		}
	case corev1.SecretTypeTLS:
		for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
			if _, ok := s.Data[k]; !ok {
				errs = append(errs, field.Required(field.NewPath("data").Key(k), "a kubernetes.io/tls secret needs it"))
			}
		}
	}
	if old != nil {
		o := old.(*corev1.Secret)
		if s.Type != o.Type {
			errs = append(errs, field.Invalid(field.NewPath("type"), s.Type, "field is immutable"))
		}
		if o.Immutable != nil && *o.Immutable && !equality.Semantic.DeepEqual(s.Data, o.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}

func configKey(k string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsConfigMapKey(k) {
		errs = append(errs, field.Invalid(p, k, msg))
	}
	return errs
}
