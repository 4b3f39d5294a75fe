//go:build !linux

package volumes

import "errors"

// HostMounter mounts on the host; tmpfs volumes need Linux, so on other
// systems every call fails.
type HostMounter struct{}

var _ Mounter = HostMounter{}

var errNotLinux = errors.New("tmpfs volumes need Linux")

// Mount fails: tmpfs volumes need Linux.
func (HostMounter) Mount(string, int64) error { return errNotLinux }

// Unmount fails: tmpfs volumes need Linux.
func (HostMounter) Unmount(string) error { return errNotLinux }

// IsMountPoint fails: tmpfs volumes need Linux.
func (HostMounter) IsMountPoint(string) (bool, error) { return false, errNotLinux }
