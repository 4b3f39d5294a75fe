package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestClaimsGetTheDefaultClassAndProtection(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	claim := func(name string, class *string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				StorageClassName: class,
			}}
	}
	create := func(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
		t.Helper()
		f.warned = nil
		out, err := f.c.Create(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return out.(*corev1.PersistentVolumeClaim)
	}
	// No class in the cluster yet: the user is told the claim can only
	// bind to a class-less volume.
	got := create(claim("early", nil))
	if got.Spec.StorageClassName != nil || len(f.warned) != 1 || !strings.Contains(f.warned[0], "no default one") {
		t.Fatalf("class %v, warnings %q", got.Spec.StorageClassName, f.warned)
	}
	if !slices.Contains(got.Finalizers, apis.FinalizerClaimProtection) || got.Status.Phase != corev1.ClaimPending {
		t.Fatalf("finalizers %v, phase %s", got.Finalizers, got.Status.Phase)
	}
	wait := storagev1.VolumeBindingWaitForFirstConsumer
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-path", Annotations: map[string]string{apis.AnnotationDefaultClass: "true"}},
		Provisioner: apis.LocalPathProvisioner, VolumeBindingMode: &wait}
	if _, err := f.c.Create(ctx, sc); err != nil {
		t.Fatal(err)
	}
	if got := create(claim("data", nil)); got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != "local-path" || len(f.warned) != 0 {
		t.Fatalf("class %v, warnings %q", got.Spec.StorageClassName, f.warned)
	}
	typo := "fsat"
	if got := create(claim("typo", &typo)); *got.Spec.StorageClassName != "fsat" || len(f.warned) != 1 || !strings.Contains(f.warned[0], `storage class "fsat" does not exist`) {
		t.Fatalf("class %v, warnings %q", got.Spec.StorageClassName, f.warned)
	}
	none := ""
	if got := create(claim("static", &none)); *got.Spec.StorageClassName != "" || len(f.warned) != 0 {
		t.Fatalf("an explicit empty class: %v, warnings %q", got.Spec.StorageClassName, f.warned)
	}
}
