package main

import (
	"strings"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// accessModesShort abbreviates access modes as kubectl does (RWO, ROX, RWX, RWOP).
func accessModesShort(modes []corev1.PersistentVolumeAccessMode) string {
	short := map[corev1.PersistentVolumeAccessMode]string{corev1.ReadWriteOnce: "RWO", corev1.ReadOnlyMany: "ROX",
		corev1.ReadWriteMany: "RWX", corev1.ReadWriteOncePod: "RWOP"}
	var out []string
	for _, m := range modes {
		out = append(out, short[m])
	}
	return strings.Join(out, ",")
}

func capacityOf(l corev1.ResourceList) string {
	if q, ok := l[corev1.ResourceStorage]; ok {
		return q.String()
	}
	return ""
}

func claimColumns() []column {
	pvc := func(o apis.Object) *corev1.PersistentVolumeClaim { return o.(*corev1.PersistentVolumeClaim) }
	return []column{
		{name: "STATUS", value: func(o apis.Object) string {
			if pvc(o).DeletionTimestamp != nil {
				return "Terminating"
			}
			return string(pvc(o).Status.Phase)
		}},
		{name: "VOLUME", value: func(o apis.Object) string { return pvc(o).Spec.VolumeName }},
		{name: "CAPACITY", value: func(o apis.Object) string { return capacityOf(pvc(o).Status.Capacity) }},
		{name: "ACCESS MODES", value: func(o apis.Object) string { return accessModesShort(pvc(o).Status.AccessModes) }},
		{name: "STORAGECLASS", value: func(o apis.Object) string { return orNone(apis.ClaimClass(pvc(o))) }},
		{name: "NODE", wide: true, value: func(o apis.Object) string { return orNone(pvc(o).Annotations[apis.AnnotationSelectedNode]) }},
	}
}

func volumeColumns() []column {
	pv := func(o apis.Object) *corev1.PersistentVolume { return o.(*corev1.PersistentVolume) }
	return []column{
		{name: "CAPACITY", value: func(o apis.Object) string { return capacityOf(pv(o).Spec.Capacity) }},
		{name: "ACCESS MODES", value: func(o apis.Object) string { return accessModesShort(pv(o).Spec.AccessModes) }},
		{name: "RECLAIM POLICY", value: func(o apis.Object) string { return string(pv(o).Spec.PersistentVolumeReclaimPolicy) }},
		{name: "STATUS", value: func(o apis.Object) string {
			if pv(o).DeletionTimestamp != nil {
				return "Terminating"
			}
			return string(pv(o).Status.Phase)
		}},
		{name: "CLAIM", value: func(o apis.Object) string {
			if ref := pv(o).Spec.ClaimRef; ref != nil {
				return ref.Namespace + "/" + ref.Name
			}
			return ""
		}},
		{name: "STORAGECLASS", value: func(o apis.Object) string { return orNone(pv(o).Spec.StorageClassName) }},
		{name: "NODE", wide: true, value: func(o apis.Object) string { return orNone(pv(o).Labels[apis.LabelVolumeNode]) }},
		{name: "PATH", wide: true, value: func(o apis.Object) string {
			switch s := pv(o).Spec; {
			case s.Local != nil:
				return s.Local.Path
			case s.HostPath != nil:
				return s.HostPath.Path
			}
			return "<none>"
		}},
	}
}

func storageClassColumns() []column {
	sc := func(o apis.Object) *storagev1.StorageClass { return o.(*storagev1.StorageClass) }
	return []column{
		{name: "PROVISIONER", value: func(o apis.Object) string { return sc(o).Provisioner }},
		{name: "RECLAIMPOLICY", value: func(o apis.Object) string {
			if p := sc(o).ReclaimPolicy; p != nil {
				return string(*p)
			}
			return ""
		}},
		{name: "VOLUMEBINDINGMODE", value: func(o apis.Object) string {
			if m := sc(o).VolumeBindingMode; m != nil {
				return string(*m)
			}
			return ""
		}},
		{name: "DEFAULT", value: func(o apis.Object) string {
			if apis.IsDefaultClass(sc(o)) {
				return "yes"
			}
			return ""
		}},
	}
}
