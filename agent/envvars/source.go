package envvars

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// Source reads the ConfigMaps and Secrets a container's environment names.
// A missing object is an error for which apierrors.IsNotFound
// (k8s.io/apimachinery/pkg/api/errors) is true. Its shape is the same as
// volumes.Source, so one implementation serves both.
type Source interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}
