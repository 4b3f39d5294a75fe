package volumes

import (
	"os"
	"path"
	"sort"
	"strings"
)

// file is one file of a volume of files.
type file struct {
	data []byte
	mode os.FileMode
}

// payload is the content of a volume of files: clean slash-separated
// relative path -> file.
type payload map[string]file

// add puts a file at p, checking that p is relative, does not climb or
// start an element with "..", and collides with no other file: neither the
// same path nor one that is another's directory.
func (pl payload) add(volume, p string, data []byte, mode int32) error {
	clean, ok := cleanPath(p)
	if !ok {
		return configError(volume, ErrInvalidPath, nil, "path %q must be relative, without '..' and with no element starting with '..'", p)
	}
	if _, dup := pl[clean]; dup {
		return configError(volume, ErrInvalidPath, nil, "path %q is given twice", p)
	}
	for other := range pl {
		if strings.HasPrefix(other, clean+"/") || strings.HasPrefix(clean, other+"/") {
			return configError(volume, ErrInvalidPath, nil, "paths %q and %q collide: one would be the other's directory", other, clean)
		}
	}
	pl[clean] = file{data: data, mode: os.FileMode(mode) & os.ModePerm}
	return nil
}

// cleanPath returns p cleaned, and whether it may name a file in a volume.
func cleanPath(p string) (string, bool) {
	if p == "" || path.IsAbs(p) {
		return "", false
	}
	for _, el := range strings.Split(p, "/") {
		if strings.HasPrefix(el, "..") {
			return "", false
		}
	}
	c := path.Clean(p)
	return c, c != "."
}

// paths returns the paths, sorted.
func (pl payload) paths() []string {
	out := make([]string, 0, len(pl))
	for p := range pl {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// topLevel returns the first elements of the paths, sorted, once each.
func (pl payload) topLevel() []string {
	seen := map[string]bool{}
	var out []string
	for p := range pl {
		top, _, _ := strings.Cut(p, "/")
		if !seen[top] {
			seen[top] = true
			out = append(out, top)
		}
	}
	sort.Strings(out)
	return out
}

// fileMode returns *m, or def when m is nil.
func fileMode(m *int32, def int32) int32 {
	if m == nil {
		return def
	}
	return *m
}
