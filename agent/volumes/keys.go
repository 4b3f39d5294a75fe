package volumes

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// keySource is a ConfigMap or Secret being projected.
type keySource struct {
	kind, name string // "configmap" or "secret", the object's name
	data       map[string][]byte
	missing    error // the source's not-found error when the object does not exist
}

// configMap reads a ConfigMap's data and binaryData. A missing object is
// not an error here: project decides with optional.
func (m *Manager) configMap(ctx context.Context, namespace, name string) (keySource, error) {
	src := keySource{kind: "configmap", name: name}
	cm, err := m.source.ConfigMap(ctx, namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		src.missing = err
		return src, nil
	case err != nil:
		return src, fmt.Errorf("get configmap %s/%s: %w", namespace, name, err)
	case cm == nil:
		return src, fmt.Errorf("get configmap %s/%s: the source returned nothing", namespace, name)
	}
	src.data = make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.BinaryData {
		src.data[k] = v
	}
	for k, v := range cm.Data {
		src.data[k] = []byte(v)
	}
	return src, nil
}

// secret reads a Secret's data. A missing object is not an error here.
func (m *Manager) secret(ctx context.Context, namespace, name string) (keySource, error) {
	src := keySource{kind: "secret", name: name}
	s, err := m.source.Secret(ctx, namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		src.missing = err
		return src, nil
	case err != nil:
		return src, fmt.Errorf("get secret %s/%s: %w", namespace, name, err)
	case s == nil:
		return src, fmt.Errorf("get secret %s/%s: the source returned nothing", namespace, name)
	}
	src.data = s.Data
	return src, nil
}

// project adds src's keys to pl: every key at its own name with defMode,
// or only items (key -> path, with their own mode or defMode). A missing
// object, or a key items names that is missing, is skipped when optional
// and a *ConfigError otherwise.
func project(volume string, pl payload, src keySource, items []corev1.KeyToPath, defMode int32, optional bool) error {
	if src.missing != nil {
		if optional {
			return nil
		}
		return configError(volume, ErrObjectNotFound, src.missing, "%s %q not found", src.kind, src.name)
	}
	if len(items) == 0 {
		for k, v := range src.data {
			if err := pl.add(volume, k, v, defMode); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := src.data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return configError(volume, ErrKeyNotFound, nil, "key %q not in %s %q", it.Key, src.kind, src.name)
		}
		if err := pl.add(volume, it.Path, v, fileMode(it.Mode, defMode)); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) configMapPayload(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (payload, error) {
	cv := v.ConfigMap
	src, err := m.configMap(ctx, pod.Namespace, cv.Name)
	if err != nil {
		return nil, err
	}
	pl := payload{}
	return pl, project(v.Name, pl, src, cv.Items, fileMode(cv.DefaultMode, int32(defaultMode)), isTrue(cv.Optional))
}

func (m *Manager) secretPayload(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (payload, error) {
	sv := v.Secret
	src, err := m.secret(ctx, pod.Namespace, sv.SecretName)
	if err != nil {
		return nil, err
	}
	pl := payload{}
	return pl, project(v.Name, pl, src, sv.Items, fileMode(sv.DefaultMode, int32(defaultMode)), isTrue(sv.Optional))
}

// projectedPayload merges the sources of a projected volume: ConfigMaps,
// Secrets and the downward API. Service account tokens, cluster trust
// bundles and pod certificates are not supported.
func (m *Manager) projectedPayload(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (payload, error) {
	pv := v.Projected
	defMode := fileMode(pv.DefaultMode, int32(defaultMode))
	pl := payload{}
	for i, s := range pv.Sources {
		var err error
		switch {
		case s.ConfigMap != nil:
			var src keySource
			if src, err = m.configMap(ctx, pod.Namespace, s.ConfigMap.Name); err == nil {
				err = project(v.Name, pl, src, s.ConfigMap.Items, defMode, isTrue(s.ConfigMap.Optional))
			}
		case s.Secret != nil:
			var src keySource
			if src, err = m.secret(ctx, pod.Namespace, s.Secret.Name); err == nil {
				err = project(v.Name, pl, src, s.Secret.Items, defMode, isTrue(s.Secret.Optional))
			}
		case s.DownwardAPI != nil:
			err = m.downwardAPI(v.Name, pl, pod, s.DownwardAPI.Items, defMode)
		case s.ServiceAccountToken != nil:
			err = configError(v.Name, ErrNotSupported, nil, "serviceAccountToken projections are not supported by skiff")
		case s.ClusterTrustBundle != nil:
			err = configError(v.Name, ErrNotSupported, nil, "clusterTrustBundle projections are not supported by skiff")
		case s.PodCertificate != nil:
			err = configError(v.Name, ErrNotSupported, nil, "podCertificate projections are not supported by skiff")
		default:
			err = configError(v.Name, ErrNotSupported, nil, "projected source %d names no source skiff knows", i)
		}
		if err != nil {
			return nil, err
		}
	}
	return pl, nil
}

func isTrue(b *bool) bool { return b != nil && *b }
