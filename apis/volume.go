package apis

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// The names the API server, the volume controller, the scheduler and the
// agents agree on for persistent storage. The annotations and finalizers
// Kubernetes defines keep their Kubernetes names.
const (
	// LocalPathProvisioner provisions a claim as a directory on the node
	// its first pod is scheduled to.
	LocalPathProvisioner = "skiff.io/local-path"
	// DefaultStorageClassName is the class a new cluster starts with.
	DefaultStorageClassName = "local-path"
	// AnnotationDefaultClass marks the class claims without one get.
	AnnotationDefaultClass = "storageclass.kubernetes.io/is-default-class"
	// AnnotationSelectedNode is written on a claim by the scheduler: the
	// node its first pod goes to, where it is to be provisioned.
	AnnotationSelectedNode = "volume.kubernetes.io/selected-node"
	// AnnotationProvisionedBy marks a volume made by a provisioner.
	AnnotationProvisionedBy = "pv.kubernetes.io/provisioned-by"
	// AnnotationLocalPathRoot is a node's directory for local-path
	// volumes, published by its agent.
	AnnotationLocalPathRoot = "storage.skiff.io/local-path-root"
	// FinalizerClaimProtection keeps a claim while a pod uses it.
	FinalizerClaimProtection = "kubernetes.io/pvc-protection"
	// FinalizerVolumeProtection keeps a volume while a claim is bound to
	// it: deleting a bound volume waits for its claim to go.
	FinalizerVolumeProtection = "kubernetes.io/pv-protection"
	// FinalizerLocalPathCleanup keeps a local-path volume until the agent
	// of its node has removed its directory (or kept it, when Retain).
	FinalizerLocalPathCleanup = "storage.skiff.io/local-path-cleanup"
	// LabelVolumeNode names the node a local-path volume lives on, for the
	// agent's watch.
	LabelVolumeNode = "storage.skiff.io/node"
)

// ClaimClass returns the storage class a claim asks for ("" for none).
func ClaimClass(c *corev1.PersistentVolumeClaim) string {
	if c.Spec.StorageClassName == nil {
		return ""
	}
	return *c.Spec.StorageClassName
}

// IsDefaultClass reports whether a class is marked as the default.
func IsDefaultClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[AnnotationDefaultClass] == "true"
}

// WaitsForFirstConsumer reports whether a class binds its claims only
// once a pod using them is scheduled.
func WaitsForFirstConsumer(sc *storagev1.StorageClass) bool {
	return sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

// PodClaims returns the names of the claims a pod's volumes use.
func PodClaims(p *corev1.Pod) []string {
	var out []string
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		}
	}
	return out
}

// LocalPathDirName is the name of a provisioned volume's directory under
// its node's storage directory, as k3s' local-path provisioner names it.
func LocalPathDirName(pv, namespace, claim string) string {
	return pv + "_" + namespace + "_" + claim
}
