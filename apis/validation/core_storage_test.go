package validation_test

import (
	"strings"
	"testing"

	"github.com/skiffhq/skiff/apis/validation"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestClaimUpdateFillsOnlyBindingFields(t *testing.T) {
	claim := func(class *string, volume, size string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default", ResourceVersion: "7"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
				StorageClassName: class, VolumeName: volume,
			},
		}
	}
	local, other := "local-path", "fast"
	cases := []struct {
		name     string
		old, new *corev1.PersistentVolumeClaim
		refused  string
	}{
		{"binding sets volumeName", claim(&local, "", "1Gi"), claim(&local, "pvc-1", "1Gi"), ""},
		{"a class is set once", claim(nil, "", "1Gi"), claim(&local, "", "1Gi"), ""},
		{"the volume cannot change", claim(&local, "pvc-1", "1Gi"), claim(&local, "pvc-2", "1Gi"), "spec"},
		{"the class cannot change", claim(&local, "", "1Gi"), claim(&other, "", "1Gi"), "spec"},
		{"no expansion", claim(&local, "", "1Gi"), claim(&local, "", "2Gi"), "immutable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := validation.PersistentVolumeClaim(tc.new, tc.old)
			switch {
			case tc.refused == "" && len(errs) > 0:
				t.Fatalf("refused: %v", errs)
			case tc.refused != "" && !strings.Contains(errs.ToAggregate().Error(), tc.refused):
				t.Fatalf("errors %v do not say %q", errs, tc.refused)
			}
		})
	}
}
