package resources

import (
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/defaults"
	"github.com/skiffhq/skiff/apis/validation"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// storageResources are the claims, the volumes and the classes that
// provision them: the local-path provisioner and the agents' mounts act on
// them.
func storageResources() []*Resource {
	return []*Resource{{
		Version: "v1", Kind: "PersistentVolumeClaim", Plural: "persistentvolumeclaims", Singular: "persistentvolumeclaim",
		ShortNames: []string{"pvc"}, Namespaced: true, HasStatus: true,
		New:      func() apis.Object { return &corev1.PersistentVolumeClaim{} },
		Default:  defaults.PersistentVolumeClaim,
		Validate: validation.PersistentVolumeClaim,
		Fields: func(obj apis.Object) fields.Set {
			return fields.Set{"status.phase": string(obj.(*corev1.PersistentVolumeClaim).Status.Phase)}
		},
		// Capacity is a request the provisioner records: a local-path
		// directory is not size-limited. dataSource (cloning) and
		// volumeAttributesClassName are not acted on.
		Acted: append(append([]string{}, metadataActed...), "spec.accessModes", "spec.resources", "spec.resources.*",
			"spec.storageClassName", "spec.volumeName", "spec.volumeMode", "spec.selector", "spec.selector.*"),
	}, {
		Version: "v1", Kind: "PersistentVolume", Plural: "persistentvolumes", Singular: "persistentvolume",
		ShortNames: []string{"pv"}, HasStatus: true,
		New:      func() apis.Object { return &corev1.PersistentVolume{} },
		Default:  defaults.PersistentVolume,
		Validate: validation.PersistentVolume,
		Fields: func(obj apis.Object) fields.Set {
			return fields.Set{"status.phase": string(obj.(*corev1.PersistentVolume).Status.Phase)}
		},
		// Agents mount local and hostPath volumes; other sources (nfs,
		// csi, ...) are accepted with a warning and fail at mount.
		Acted: append(append([]string{}, metadataActed...), "spec.capacity", "spec.capacity.*", "spec.accessModes",
			"spec.persistentVolumeReclaimPolicy", "spec.storageClassName", "spec.volumeMode", "spec.claimRef", "spec.claimRef.*",
			"spec.local", "spec.local.*", "spec.hostPath", "spec.hostPath.*", "spec.nodeAffinity", "spec.nodeAffinity.*"),
	}, {
		Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass", Plural: "storageclasses", Singular: "storageclass",
		ShortNames: []string{"sc"},
		New:        func() apis.Object { return &storagev1.StorageClass{} },
		Default:    defaults.StorageClass,
		Validate:   validation.StorageClass,
		Acted: append(append([]string{}, metadataActed...), "provisioner", "parameters", "parameters.*", "reclaimPolicy",
			"volumeBindingMode"),
	}}
}
