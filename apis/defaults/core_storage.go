package defaults

import (
	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// PersistentVolumeClaim defaults a claim as Kubernetes does: a filesystem
// volume, Pending until bound.
func PersistentVolumeClaim(obj apis.Object) {
	c := obj.(*corev1.PersistentVolumeClaim)
	if c.Spec.VolumeMode == nil {
		fs := corev1.PersistentVolumeFilesystem
		c.Spec.VolumeMode = &fs
	}
	if c.Status.Phase == "" {
		c.Status.Phase = corev1.ClaimPending
	}
}

// PersistentVolume defaults a volume: Retain (a volume made by hand keeps
// its data), filesystem, Available until bound.
func PersistentVolume(obj apis.Object) {
	v := obj.(*corev1.PersistentVolume)
	if v.Spec.PersistentVolumeReclaimPolicy == "" {
		v.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if v.Spec.VolumeMode == nil {
		fs := corev1.PersistentVolumeFilesystem
		v.Spec.VolumeMode = &fs
	}
	if v.Status.Phase == "" {
		v.Status.Phase = corev1.VolumePending
	}
}

// StorageClass defaults a class: Delete, Immediate binding.
func StorageClass(obj apis.Object) {
	sc := obj.(*storagev1.StorageClass)
	if sc.ReclaimPolicy == nil {
		d := corev1.PersistentVolumeReclaimDelete
		sc.ReclaimPolicy = &d
	}
	if sc.VolumeBindingMode == nil {
		m := storagev1.VolumeBindingImmediate
		sc.VolumeBindingMode = &m
	}
}
