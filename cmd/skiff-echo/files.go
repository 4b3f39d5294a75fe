package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
)

// files serves GET /files/<path> from FILES_DIR: a file's content, or a
// directory's entries one per line. Lookups go through an os.Root, so
// neither ".." nor a symbolic link can lead out of the directory; such
// paths answer 404 like absent ones.
func (s *server) files(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("path")
	if name == "" {
		name = "."
	}
	root, err := os.OpenRoot(s.cfg.filesDir)
	if err != nil {
		fileError(w, err)
		return
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		fileError(w, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		fileError(w, err)
		return
	}
	if !fi.IsDir() {
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
		return
	}
	entries, err := f.ReadDir(-1)
	if err != nil {
		fileError(w, err)
		return
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		names = append(names, n)
	}
	slices.Sort(names)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, n := range names {
		fmt.Fprintln(w, n)
	}
}

func fileError(w http.ResponseWriter, err error) {
	if errors.Is(err, fs.ErrPermission) {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	// Absent, or outside the directory.
	http.Error(w, err.Error(), http.StatusNotFound)
}
