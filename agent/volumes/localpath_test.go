package volumes

import (
	"testing"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLocalPathDirRefusesWhatTheProvisionerDidNotMake(t *testing.T) {
	pv := func(path string, provisioned bool) *corev1.PersistentVolume {
		v := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: map[string]string{}},
			Spec: corev1.PersistentVolumeSpec{ClaimRef: &corev1.ObjectReference{Namespace: "default", Name: "data"},
				PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}}}}
		if provisioned {
			v.Annotations[apis.AnnotationProvisionedBy] = apis.LocalPathProvisioner
		}
		return v
	}
	unclaimed := pv("/var/lib/skiff/storage/pvc-1_default_data", true)
	unclaimed.Spec.ClaimRef = nil
	cases := []struct {
		name string
		pv   *corev1.PersistentVolume
		ok   bool
	}{
		{"the provisioner's directory", pv("/var/lib/skiff/storage/pvc-1_default_data", true), true},
		{"made by hand", pv("/var/lib/skiff/storage/pvc-1_default_data", false), false},
		{"the root", pv("/", true), false},
		{"a parent", pv("/var/lib/skiff", true), false},
		{"climbing", pv("/srv/../etc/pvc-1_default_data", true), false},
		{"relative", pv("relative/pvc-1_default_data", true), false},
		{"right under /", pv("/pvc-1_default_data", true), false},
		{"another volume's", pv("/var/lib/skiff/storage/pvc-2_default_data", true), false},
		{"another claim's", pv("/var/lib/skiff/storage/pvc-1_default_other", true), false},
		{"no claim", unclaimed, false},
	}
	for _, c := range cases {
		if _, err := LocalPathDir(c.pv); (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
