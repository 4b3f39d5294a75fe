package volumes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ClaimSource reads the claims pods mount and the volumes bound to them.
// A missing object is an error for which apierrors.IsNotFound is true.
type ClaimSource interface {
	PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
	PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error)
}

// localPathMode lets containers running as any user write a local-path
// volume, as k3s' provisioner does.
const localPathMode = 0o777

// claim resolves a persistentVolumeClaim volume to the host directory of
// its volume: a local or hostPath volume bound to the claim. A volume the
// local-path provisioner made is created on first use; any other must
// exist. An unbound claim is a transient error: the volume controller
// binds it once the pod is scheduled.
func (m *Manager) claim(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (string, error) {
	name := v.PersistentVolumeClaim.ClaimName
	if m.claims == nil {
		return "", configError(v.Name, ErrNotSupported, nil, "persistentVolumeClaim volumes are not supported by this agent")
	}
	c, err := m.claims.PersistentVolumeClaim(ctx, pod.Namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		return "", configError(v.Name, ErrObjectNotFound, err, "persistentvolumeclaim %q not found", name)
	case err != nil:
		return "", fmt.Errorf("get persistentvolumeclaim %s/%s: %w", pod.Namespace, name, err)
	case c.Spec.VolumeName == "":
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound to a volume yet", name)
	}
	pv, err := m.claims.PersistentVolume(ctx, c.Spec.VolumeName)
	switch {
	case apierrors.IsNotFound(err):
		return "", configError(v.Name, ErrObjectNotFound, err, "persistentvolume %q of claim %q not found", c.Spec.VolumeName, name)
	case err != nil:
		return "", fmt.Errorf("get persistentvolume %s: %w", c.Spec.VolumeName, err)
	case pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != c.UID:
		return "", fmt.Errorf("persistentvolume %q is not bound to claim %q yet", pv.Name, name)
	case pv.DeletionTimestamp != nil:
		return "", configError(v.Name, ErrObjectNotFound, nil, "persistentvolume %q of claim %q is being deleted", pv.Name, name)
	}
	switch {
	case pv.Spec.HostPath != nil:
		return hostPath(v.Name, pv.Spec.HostPath)
	case pv.Spec.Local == nil:
		return "", configError(v.Name, ErrNotSupported, nil, "persistentvolume %q: only local and hostPath volumes are supported by skiff", pv.Name)
	}
	p := pv.Spec.Local.Path
	if m.nodeName != "" && pv.Labels[apis.LabelVolumeNode] != "" && pv.Labels[apis.LabelVolumeNode] != m.nodeName {
		return "", configError(v.Name, ErrObjectNotFound, nil, "persistentvolume %q lives on node %s, not here", pv.Name, pv.Labels[apis.LabelVolumeNode])
	}
	if pv.Annotations[apis.AnnotationProvisionedBy] == apis.LocalPathProvisioner {
		if _, err := LocalPathDir(pv); err != nil {
			return "", configError(v.Name, ErrInvalidPath, err, "persistentvolume %q: %v", pv.Name, err)
		}
		fi, err := os.Lstat(p)
		if err == nil && !fi.IsDir() {
			return "", configError(v.Name, ErrInvalidPath, nil, "persistentvolume %q: %s is not a directory", pv.Name, p)
		}
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(p, localPathMode); err != nil {
				return "", fmt.Errorf("provisioning %s: %w", p, err)
			}
			// MkdirAll's mode passes through the umask.
			if err := os.Chmod(p, localPathMode); err != nil {
				return "", err
			}
			m.log.Info("local-path volume created", "volume", pv.Name, "path", p, "claim", pod.Namespace+"/"+name)
		}
		return p, nil
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.IsDir() {
		return "", configError(v.Name, ErrHostPathType, err, "local volume %q: %s is not a directory on this node", pv.Name, p)
	}
	return p, nil
}

// LocalPathDir returns the directory of a volume made by the local-path
// provisioner, refusing any path that is not the provisioner's own
// "<volume>_<namespace>_<claim>" directory of that volume and claim: the
// agent creates it 0777 and removes it as root, and a volume's path is
// data from the API.
func LocalPathDir(pv *corev1.PersistentVolume) (string, error) {
	if pv.Spec.Local == nil || pv.Annotations[apis.AnnotationProvisionedBy] != apis.LocalPathProvisioner {
		return "", errors.New("not a local-path volume")
	}
	ref := pv.Spec.ClaimRef
	p := pv.Spec.Local.Path
	if ref == nil || !filepath.IsAbs(p) || filepath.Clean(p) != p || filepath.Dir(p) == "/" ||
		filepath.Base(p) != apis.LocalPathDirName(pv.Name, ref.Namespace, ref.Name) {
		return "", fmt.Errorf("path %q is not the local-path directory of volume %s", p, pv.Name)
	}
	return p, nil
}
