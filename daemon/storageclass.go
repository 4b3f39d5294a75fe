package daemon

import (
	"context"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ensureLocalPathClass gives the cluster its default StorageClass, as k3s
// does: claims without a class become directories on their pod's node.
// It runs on each new leader, so a deleted class comes back like the
// system namespaces.
func (m *masterProc) ensureLocalPathClass(ctx context.Context) error {
	if m.node.FSM().View().Get("StorageClass", "", apis.DefaultStorageClassName) != nil {
		return nil
	}
	res, _ := m.reg.ByKind("StorageClass")
	del := corev1.PersistentVolumeReclaimDelete
	wait := storagev1.VolumeBindingWaitForFirstConsumer
	sc := &storagev1.StorageClass{
		TypeMeta: metav1.TypeMeta{APIVersion: "storage.k8s.io/v1", Kind: "StorageClass"},
		ObjectMeta: metav1.ObjectMeta{Name: apis.DefaultStorageClassName, UID: types.UID(newUID()), CreationTimestamp: metav1.Now(),
			Annotations: map[string]string{apis.AnnotationDefaultClass: "true"}},
		Provisioner:       apis.LocalPathProvisioner,
		ReclaimPolicy:     &del,
		VolumeBindingMode: &wait,
	}
	_, err := m.raw.Create(ctx, res, sc)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
