package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Cleanup unmounts the pod's tmpfs volumes (lazily, so files containers
// still hold stay readable) and removes its directory, PodDir(podUID),
// with everything in it. Call it once the pod's containers are gone. If a
// mount is left under the directory, nothing is removed and the error
// wraps ErrStillMounted. A pod without a directory is not an error.
func (m *Manager) Cleanup(podUID string) error {
	if err := checkUID(podUID); err != nil {
		return err
	}
	unlock := m.locks.lock(podUID)
	defer unlock()

	dir := m.PodDir(podUID)
	if err := m.unmountVolumes(filepath.Join(dir, "volumes")); err != nil {
		return fmt.Errorf("pod %s: %w", podUID, err)
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := m.removeTree(dir); err != nil {
		return fmt.Errorf("pod %s: %w", podUID, err)
	}
	m.log.Info("pod directory removed", "uid", podUID)
	return nil
}

// unmountVolumes unmounts every volume directory (volumes/<kind>/<name>)
// that is a mount point.
func (m *Manager) unmountVolumes(volumes string) error {
	kinds, err := os.ReadDir(volumes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, kind := range kinds {
		if !kind.IsDir() {
			continue
		}
		vols, err := os.ReadDir(filepath.Join(volumes, kind.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, v := range vols {
			p := filepath.Join(volumes, kind.Name(), v.Name())
			mounted, err := m.mounter.IsMountPoint(p)
			if err == nil && mounted {
				err = m.mounter.Unmount(p)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeTree removes p and everything under it, refusing to descend into
// a mount point: a bind mount of host files left there by mistake must not
// be emptied.
func (m *Manager) removeTree(p string) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return os.Remove(p)
	}
	mounted, err := m.mounter.IsMountPoint(p)
	if err != nil {
		return err
	}
	if mounted {
		return fmt.Errorf("remove %s: %w", p, ErrStillMounted)
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := m.removeTree(filepath.Join(p, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(p)
}

// Orphans returns the UIDs of pods that have a directory on the node but
// are not in keep, sorted.
func (m *Manager) Orphans(keep map[string]bool) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(m.root, "pods"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !keep[e.Name()] {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// CleanupOrphans runs Cleanup for every pod Orphans(keep) returns: at agent
// start, keep holds the UIDs of the pods bound to the node, so that the
// directories of pods deleted while the agent was down go. Errors are
// joined; one pod failing does not stop the others.
func (m *Manager) CleanupOrphans(keep map[string]bool) error {
	uids, err := m.Orphans(keep)
	if err != nil {
		return err
	}
	var errs []error
	for _, uid := range uids {
		if err := m.Cleanup(uid); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
