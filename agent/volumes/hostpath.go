package volumes

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// hostPath checks (or creates) a hostPath volume as its type says and
// returns its path as written in the pod:
//
//	""                 no check
//	DirectoryOrCreate  a directory; created 0755 (with its parents) when nothing is there
//	Directory          an existing directory
//	FileOrCreate       a file; created empty, 0644, when nothing is there (its directory must exist)
//	File               an existing regular file
//	Socket             an existing UNIX socket
//	CharDevice         an existing character device
//	BlockDevice        an existing block device
//
// Paths are followed through symlinks.
func hostPath(volume string, hp *corev1.HostPathVolumeSource) (string, error) {
	p := hp.Path
	var typ corev1.HostPathType
	if hp.Type != nil {
		typ = *hp.Type
	}
	if typ == corev1.HostPathUnset {
		return p, nil
	}
	fi, err := os.Stat(p)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", configError(volume, ErrHostPathType, err, "hostPath type check failed: %v", err)
	}

	switch typ {
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", configError(volume, ErrHostPathType, err, "hostPath type check failed: create directory: %v", err)
			}
			return p, nil
		}
		return p, wantType(volume, p, fi.IsDir(), "a directory")
	case corev1.HostPathFileOrCreate:
		if !exists {
			if err := createEmptyFile(p); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return "", configError(volume, ErrHostPathType, err, "hostPath type check failed: cannot create %s: directory %s does not exist", p, filepath.Dir(p))
				}
				return "", configError(volume, ErrHostPathType, err, "hostPath type check failed: create file: %v", err)
			}
			return p, nil
		}
		return p, wantType(volume, p, fi.Mode().IsRegular(), "a file")
	case corev1.HostPathDirectory, corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev:
	default:
		return "", configError(volume, ErrNotSupported, nil, "hostPath type %q is not supported", typ)
	}

	if !exists {
		return "", configError(volume, ErrHostPathType, err, "hostPath type check failed: %s does not exist", p)
	}
	m := fi.Mode()
	switch typ {
	case corev1.HostPathDirectory:
		return p, wantType(volume, p, m.IsDir(), "a directory")
	case corev1.HostPathFile:
		return p, wantType(volume, p, m.IsRegular(), "a file")
	case corev1.HostPathSocket:
		return p, wantType(volume, p, m&fs.ModeSocket != 0, "a socket")
	case corev1.HostPathCharDev:
		return p, wantType(volume, p, m&fs.ModeDevice != 0 && m&fs.ModeCharDevice != 0, "a character device")
	default: // BlockDevice
		return p, wantType(volume, p, m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0, "a block device")
	}
}

func wantType(volume, p string, ok bool, what string) error {
	if ok {
		return nil
	}
	return configError(volume, ErrHostPathType, nil, "hostPath type check failed: %s is not %s", p, what)
}

func createEmptyFile(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil // created meanwhile by someone else; the next sync checks its type
	}
	if err != nil {
		return err
	}
	return errors.Join(f.Chmod(0o644), f.Close())
}
