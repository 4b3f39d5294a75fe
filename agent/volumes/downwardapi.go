package volumes

import (
	"sort"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/agent/envvars"
	corev1 "k8s.io/api/core/v1"
)

func (m *Manager) downwardAPIPayload(pod *corev1.Pod, v *corev1.Volume) (payload, error) {
	pl := payload{}
	dv := v.DownwardAPI
	return pl, m.downwardAPI(v.Name, pl, pod, dv.Items, fileMode(dv.DefaultMode, int32(defaultMode)))
}

// downwardAPI adds the items of a downward API volume or projection to pl.
// Fields: metadata.name, metadata.namespace, metadata.uid, metadata.labels
// and metadata.annotations (one `key="value"` line per entry, sorted by key,
// the value quoted as a Go string), metadata.labels['key'] and
// metadata.annotations['key']; and resourceFieldRef with a containerName.
func (m *Manager) downwardAPI(volume string, pl payload, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defMode int32) error {
	for _, it := range items {
		var value string
		switch {
		case it.FieldRef != nil:
			if v := it.FieldRef.APIVersion; v != "" && v != "v1" {
				return configError(volume, ErrNotSupported, nil, "fieldRef apiVersion %q is not supported", v)
			}
			fp := it.FieldRef.FieldPath
			switch {
			case fp == "metadata.labels":
				value = formatMap(pod.Labels)
			case fp == "metadata.annotations":
				value = formatMap(pod.Annotations)
			case fp == "metadata.name", fp == "metadata.namespace", fp == "metadata.uid",
				strings.HasPrefix(fp, "metadata.labels["), strings.HasPrefix(fp, "metadata.annotations["):
				var err error
				if value, err = envvars.PodField(pod, fp, "", ""); err != nil {
					return configError(volume, ErrNotSupported, err, "fieldPath %q is not supported in a downwardAPI volume", fp)
				}
			default:
				return configError(volume, ErrNotSupported, nil, "fieldPath %q is not supported in a downwardAPI volume", fp)
			}
		case it.ResourceFieldRef != nil:
			var err error
			if value, err = envvars.ResourceField(pod, nil, it.ResourceFieldRef, m.allocatable); err != nil {
				return configError(volume, ErrInvalidReference, err, "item %q: %v", it.Path, err)
			}
		default:
			return configError(volume, ErrNotSupported, nil, "item %q names neither a fieldRef nor a resourceFieldRef", it.Path)
		}
		if err := pl.add(volume, it.Path, []byte(value), fileMode(it.Mode, defMode)); err != nil {
			return err
		}
	}
	return nil
}

// formatMap writes labels or annotations as `key="value"` lines, sorted.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + "=" + strconv.Quote(m[k])
	}
	return strings.Join(lines, "\n")
}
