package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/manifest"
	"github.com/skiffhq/skiff/apis/resources"
)

// document is one object read from a manifest.
type document struct {
	res    *resources.Resource
	obj    apis.Object
	json   []byte
	source string
}

// readManifests reads files, folders (their *.yaml, *.yml and *.json files)
// and "-" (stdin). Every document is decoded strictly before anything is
// sent, so a typo in the third document stops the whole apply before the
// first one is written.
func readManifests(paths []string, reg *resources.Registry, stdin io.Reader) ([]document, error) {
	if len(paths) == 0 {
		return nil, errors.New("give manifests with -f FILE, -f FOLDER or -f - (stdin)")
	}
	var files []string
	for _, p := range paths {
		if p == "-" {
			files = append(files, p)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var found []string
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".yaml", ".yml", ".json":
				if !e.IsDir() {
					found = append(found, filepath.Join(p, e.Name()))
				}
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no .yaml, .yml or .json files", p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	var docs []document
	for _, f := range files {
		var r io.Reader
		name := f
		if f == "-" {
			r, name = stdin, "stdin"
		} else {
			fh, err := os.Open(f)
			if err != nil {
				return nil, err
			}
			defer fh.Close()
			r = fh
		}
		split, err := manifest.Split(r, name)
		if err != nil {
			return nil, err
		}
		for _, d := range split {
			res, err := reg.ByGVK(d.Header.APIVersion, d.Header.Kind)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.Source, err)
			}
			obj, _, err := manifest.Decode(res, d.JSON)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.Source, err)
			}
			docs = append(docs, document{res: res, obj: obj, json: d.JSON, source: d.Source})
		}
	}
	if len(docs) == 0 {
		return nil, errors.New("no objects found in the manifests given")
	}
	return docs, nil
}

// placeNamespace fills a namespaced object's namespace from -n (or
// "default") and refuses a manifest that names another one than -n.
func placeNamespace(d *document, flagNS string) error {
	if !d.res.Namespaced {
		if d.obj.GetNamespace() != "" {
			return fmt.Errorf("%s: %s is cluster-scoped: remove metadata.namespace", d.source, d.res.Kind)
		}
		return nil
	}
	switch ns := d.obj.GetNamespace(); {
	case ns == "" && flagNS == "":
		d.obj.SetNamespace("default")
	case ns == "":
		d.obj.SetNamespace(flagNS)
	case flagNS != "" && ns != flagNS:
		return fmt.Errorf("%s: the manifest's namespace %q does not match -n %q", d.source, ns, flagNS)
	}
	return nil
}
