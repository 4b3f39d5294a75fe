package volumes

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// Source reads the ConfigMaps and Secrets volumes project; the agent
// implements it over its API client or watch cache. A missing object is an
// error for which apierrors.IsNotFound (k8s.io/apimachinery/pkg/api/errors)
// is true. Its shape is the same as envvars.Source.
type Source interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}
