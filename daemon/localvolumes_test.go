package daemon

import (
	"testing"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLocalPathDirRefusesWhatTheProvisionerDidNotMake(t *testing.T) {
	pv := func(path string, provisioned bool) *corev1.PersistentVolume {
		v := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: map[string]string{}},
			Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}}}}
		if provisioned {
			v.Annotations[apis.AnnotationProvisionedBy] = apis.LocalPathProvisioner
		}
		return v
	}
	cases := []struct {
		pv *corev1.PersistentVolume
		ok bool
	}{
		{pv("/var/lib/skiff/storage/pvc-1_default_data", true), true},
		{pv("/var/lib/skiff/storage/pvc-1_default_data", false), false}, // made by hand
		{pv("/", true), false},
		{pv("/var/lib/skiff", true), false},
		{pv("/srv/../etc/pvc-1_x", true), false},
		{pv("relative/pvc-1_default_data", true), false},
		{pv("/var/lib/skiff/storage/pvc-2_default_data", true), false}, // another volume's
	}
	for _, c := range cases {
		_, err := localPathDir(c.pv)
		if (err == nil) != c.ok {
			t.Errorf("%s (provisioned %v): err %v, want ok=%v", c.pv.Spec.Local.Path, c.pv.Annotations[apis.AnnotationProvisionedBy] != "", err, c.ok)
		}
	}
}
