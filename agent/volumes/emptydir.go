package volumes

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// emptyDirMode lets containers running as any user write in an emptyDir,
// as in Kubernetes: skiff does not act on fsGroup, so a 0755 directory
// owned by root would be read-only to them.
const emptyDirMode = os.FileMode(0o777)

// emptyDir creates the volume's directory (0777). With medium Memory the
// directory is a tmpfs, limited to sizeLimit when set. A disk emptyDir's
// sizeLimit is not enforced.
func (m *Manager) emptyDir(uid string, v *corev1.Volume) (string, error) {
	medium := v.EmptyDir.Medium
	if medium != corev1.StorageMediumDefault && medium != corev1.StorageMediumMemory {
		return "", configError(v.Name, ErrNotSupported, nil, "emptyDir medium %q is not supported by skiff", medium)
	}
	dir := m.volumeDir(uid, kindEmptyDir, v.Name)
	if err := os.MkdirAll(filepath.Dir(dir), dirMode); err != nil {
		return "", err
	}
	if err := os.Mkdir(dir, emptyDirMode); err == nil {
		if err := os.Chmod(dir, emptyDirMode); err != nil {
			return "", err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	if medium != corev1.StorageMediumMemory {
		return dir, nil
	}
	mounted, err := m.mounter.IsMountPoint(dir)
	if err != nil || mounted {
		return dir, err
	}
	var size int64
	if sl := v.EmptyDir.SizeLimit; sl != nil && sl.Sign() > 0 {
		size = sl.Value()
	}
	if err := m.mounter.Mount(dir, size); err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, emptyDirMode)
}
