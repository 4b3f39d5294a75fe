package volumes

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Names inside a volume of files. Names starting with ".." are the writer's
// own; payload paths may not start with "..".
const (
	dataLink    = "..data"     // -> the current timestamped directory
	dataTmpLink = "..data_tmp" // the next ..data, before its rename
	linkTmp     = "..link_tmp" // a user-visible link before its rename
	tsLayout    = "2006_01_02_15_04_05.000000000"
	tsPrefix    = ".."
	dirMode     = os.FileMode(0o755)
	defaultMode = os.FileMode(0o644)
)

// writeFiles makes dir, an existing directory, show exactly files, swapping
// the whole set atomically (see the package documentation). It reports
// whether anything on disk changed: content the same as the current
// timestamped directory's (bytes and modes) writes nothing. now names the
// new timestamped directory. files' paths must be valid (payload.add).
func writeFiles(dir string, files payload, now time.Time) (changed bool, err error) {
	tops := files.topLevel()
	cur, err := currentData(dir)
	if err != nil {
		return false, err
	}
	if cur != "" && sameContent(filepath.Join(dir, cur), files) {
		linked, err := linkTopLevel(dir, tops)
		if err != nil {
			return linked, err
		}
		removed, err := removeStale(dir, tops, cur)
		return linked || removed, err
	}

	name, err := makeTimestampDir(dir, now)
	if err != nil {
		return false, err
	}
	if err := writeTree(filepath.Join(dir, name), files); err != nil {
		return false, errors.Join(err, os.RemoveAll(filepath.Join(dir, name)))
	}
	tmp := filepath.Join(dir, dataTmpLink)
	if err := removeIfExists(tmp); err != nil {
		return false, err
	}
	if err := os.Symlink(name, tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return false, err
	}
	if _, err := linkTopLevel(dir, tops); err != nil {
		return true, err
	}
	_, err = removeStale(dir, tops, name)
	return true, err
}

// currentData returns the timestamped directory ..data points to, "" when
// there is none. A ..data that is not a symlink to a sibling timestamped
// directory is removed, so that the next write starts clean.
func currentData(dir string) (string, error) {
	p := filepath.Join(dir, dataLink)
	target, err := os.Readlink(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err == nil && isTimestampDir(target) {
		if fi, err := os.Stat(filepath.Join(dir, target)); err == nil && fi.IsDir() {
			return target, nil
		}
	}
	return "", removeIfExists(p)
}

func isTimestampDir(name string) bool {
	ts, ok := strings.CutPrefix(name, tsPrefix)
	if !ok || strings.Contains(name, "/") {
		return false
	}
	_, err := time.Parse(tsLayout, ts)
	return err == nil
}

// sameContent reports whether root holds exactly files, with their modes.
// Any difference or read error means "not the same", and a full rewrite
// follows.
func sameContent(root string, files payload) bool {
	errDiffers := errors.New("differs")
	seen := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		want, ok := files[filepath.ToSlash(rel)]
		if !ok || !d.Type().IsRegular() {
			return errDiffers
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != want.mode || info.Size() != int64(len(want.data)) {
			return errDiffers
		}
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want.data) {
			return errDiffers
		}
		seen++
		return nil
	})
	return err == nil && seen == len(files)
}

// makeTimestampDir creates ..<now> in dir, moving on by a nanosecond while
// the name is taken.
func makeTimestampDir(dir string, now time.Time) (string, error) {
	for range 1000 {
		name := tsPrefix + now.UTC().Format(tsLayout)
		p := filepath.Join(dir, name)
		err := os.Mkdir(p, dirMode)
		if err == nil {
			return name, os.Chmod(p, dirMode) // whatever the umask
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
		now = now.Add(time.Nanosecond)
	}
	return "", fmt.Errorf("%s: no free timestamped directory name", dir)
}

// writeTree writes files under root, creating directories 0755.
func writeTree(root string, files payload) error {
	for _, rel := range files.paths() {
		f := files[rel]
		parts := strings.Split(rel, "/")
		dir := root
		for _, part := range parts[:len(parts)-1] {
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, dirMode); err == nil {
				if err := os.Chmod(dir, dirMode); err != nil {
					return err
				}
			} else if !errors.Is(err, fs.ErrExist) {
				return err
			}
		}
		if err := writeFile(filepath.Join(root, rel), f); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(p string, f file) error {
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
	if err != nil {
		return err
	}
	// No fsync: after a crash the next Setup compares the content with
	// what it should be and rewrites a torn file.
	_, err = out.Write(f.data)
	if err == nil {
		err = out.Chmod(f.mode) // whatever the umask
	}
	return errors.Join(err, out.Close())
}

// linkTopLevel makes each top-level name a symlink to ..data/<name>.
func linkTopLevel(dir string, tops []string) (changed bool, err error) {
	for _, top := range tops {
		p := filepath.Join(dir, top)
		want := dataLink + "/" + top
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return changed, err
		case fi.Mode()&fs.ModeSymlink != 0:
			if got, err := os.Readlink(p); err == nil && got == want {
				continue
			}
		case fi.IsDir():
			// A rename cannot replace a directory with a link.
			if err := os.RemoveAll(p); err != nil {
				return changed, err
			}
		}
		tmp := filepath.Join(dir, linkTmp)
		if err := removeIfExists(tmp); err != nil {
			return changed, err
		}
		if err := os.Symlink(want, tmp); err != nil {
			return changed, err
		}
		if err := os.Rename(tmp, p); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// removeStale removes from dir what is neither ..data, the current
// timestamped directory nor a top-level name of the payload: links of keys
// that are gone, older timestamped directories, leftovers of an
// interrupted write.
func removeStale(dir string, tops []string, current string) (removed bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if name == dataLink || name == current || (!strings.HasPrefix(name, "..") && slices.Contains(tops, name)) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = true
	}
	return removed, errors.Join(errs...)
}

func removeIfExists(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
