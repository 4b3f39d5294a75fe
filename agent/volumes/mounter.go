package volumes

import (
	"fmt"
	"path/filepath"
	"sync"
)

// Mounter mounts the tmpfs file systems of memory-backed volumes.
type Mounter interface {
	// Mount mounts a new tmpfs on path, an existing directory. size is its
	// limit in bytes; 0 leaves the kernel's default (half of RAM).
	Mount(path string, size int64) error
	// Unmount detaches the mount on path lazily (MNT_DETACH): the mount
	// point is free at once, and files containers still hold open stay
	// readable until closed.
	Unmount(path string) error
	// IsMountPoint reports whether path is the root of a mount. A path
	// that does not exist is not.
	IsMountPoint(path string) (bool, error)
}

// FakeMounter is a Mounter for tests: it records mounts in memory and
// touches nothing on disk, so the files a volume writes land in the plain
// directory. Safe for concurrent use.
type FakeMounter struct {
	mu     sync.Mutex
	mounts map[string]int64 // cleaned path -> size
	// MountErr and UnmountErr, when set, are returned by Mount and Unmount
	// (set them before use).
	MountErr, UnmountErr error
}

var _ Mounter = (*FakeMounter)(nil)

// Mount records a tmpfs on path; mounting twice on one path is an error,
// as it would hide the first mount.
func (f *FakeMounter) Mount(path string, size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.MountErr != nil {
		return f.MountErr
	}
	path = filepath.Clean(path)
	if _, ok := f.mounts[path]; ok {
		return fmt.Errorf("fake mount: %s is already mounted", path)
	}
	if f.mounts == nil {
		f.mounts = map[string]int64{}
	}
	f.mounts[path] = size
	return nil
}

// Unmount forgets the mount on path; it is an error when there is none.
func (f *FakeMounter) Unmount(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.UnmountErr != nil {
		return f.UnmountErr
	}
	path = filepath.Clean(path)
	if _, ok := f.mounts[path]; !ok {
		return fmt.Errorf("fake unmount %s: not mounted", path)
	}
	delete(f.mounts, path)
	return nil
}

// IsMountPoint reports whether Mount recorded path.
func (f *FakeMounter) IsMountPoint(path string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.mounts[filepath.Clean(path)]
	return ok, nil
}

// Mounts returns the recorded mounts: path -> size.
func (f *FakeMounter) Mounts() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int64, len(f.mounts))
	for p, s := range f.mounts {
		out[p] = s
	}
	return out
}
