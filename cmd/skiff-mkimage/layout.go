package main

import (
	"archive/tar"
	_ "crypto/sha256" // go-digest's sha256 algorithm needs it linked in
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// annotationImageName is the index annotation `ctr images import` names
// the image by; it holds the full reference.
const annotationImageName = "io.containerd.image.name"

const defaultPath = "PATH=/usr/local/bin:/bin:/usr/bin:/sbin:/usr/sbin"

// image is what goes into a layout: a name and tag, the environment added
// to PATH and the one uncompressed layer.
type image struct {
	ref   reference
	env   []string
	layer []byte
}

// reference is a parsed registry/name:tag.
type reference struct {
	name string // skiff.local/echo
	tag  string // 1
}

func (r reference) String() string { return r.name + ":" + r.tag }

// refRE accepts what containerd stores unchanged: a registry host, one or
// more lower-case path components and a tag; no digest.
var refRE = regexp.MustCompile(`^((?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?)` +
	`((?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+)` +
	`:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$`)

func parseRef(s string) (reference, error) {
	m := refRE.FindStringSubmatch(s)
	if m == nil {
		return reference{}, fmt.Errorf("--ref %q: want registry/name:tag, e.g. skiff.local/echo:1", s)
	}
	host := m[1]
	if !strings.ContainsAny(host, ".:") && host != "localhost" {
		return reference{}, fmt.Errorf("--ref %q: %q is not a registry host; containerd would not find the image under this name", s, host)
	}
	return reference{name: host + m[2], tag: m[3]}, nil
}

// writeLayout writes img to w as the tar of an OCI image layout: oci-layout,
// index.json and the three blobs (layer, config, manifest). It returns the
// manifest's digest.
func writeLayout(w io.Writer, img image) (digest.Digest, error) {
	layerDesc := v1.Descriptor{
		MediaType: v1.MediaTypeImageLayer,
		Digest:    digest.FromBytes(img.layer),
		Size:      int64(len(img.layer)),
	}
	platform := v1.Platform{OS: "linux", Architecture: "amd64"}
	config := v1.Image{
		Created:  &epoch,
		Platform: platform,
		Config: v1.ImageConfig{
			Entrypoint:   []string{entrypoint},
			Env:          mergeEnv(append([]string{defaultPath}, img.env...)),
			WorkingDir:   "/",
			ExposedPorts: map[string]struct{}{"8080/tcp": {}},
			Labels: map[string]string{
				v1.AnnotationTitle:   "skiff-echo",
				v1.AnnotationVersion: img.ref.tag,
			},
		},
		// The layer is uncompressed, so its diff ID is its digest.
		RootFS:  v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}},
		History: []v1.History{{Created: &epoch, CreatedBy: "skiff-mkimage"}},
	}
	blobs := map[digest.Digest][]byte{layerDesc.Digest: img.layer}
	addBlob := func(mediaType string, v any) (v1.Descriptor, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return v1.Descriptor{}, err
		}
		d := digest.FromBytes(b)
		blobs[d] = b
		return v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}, nil
	}
	configDesc, err := addBlob(v1.MediaTypeImageConfig, config)
	if err != nil {
		return "", err
	}
	manifestDesc, err := addBlob(v1.MediaTypeImageManifest, v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []v1.Descriptor{layerDesc},
	})
	if err != nil {
		return "", err
	}
	manifestDesc.Platform = &platform
	manifestDesc.Annotations = map[string]string{
		annotationImageName:  img.ref.String(),
		v1.AnnotationRefName: img.ref.tag,
	}
	index, err := json.Marshal(v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: []v1.Descriptor{manifestDesc},
	})
	if err != nil {
		return "", err
	}
	layout, err := json.Marshal(v1.ImageLayout{Version: v1.ImageLayoutVersion})
	if err != nil {
		return "", err
	}

	tw := tar.NewWriter(w)
	dir := func(name string) error { return tw.WriteHeader(header(name, tar.TypeDir, 0o755, 0)) }
	file := func(name string, data []byte) error {
		if err := tw.WriteHeader(header(name, tar.TypeReg, 0o644, int64(len(data)))); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := dir(v1.ImageBlobsDir + "/"); err != nil {
		return "", err
	}
	if err := dir(v1.ImageBlobsDir + "/sha256/"); err != nil {
		return "", err
	}
	for _, d := range slices.Sorted(maps.Keys(blobs)) {
		if err := file(v1.ImageBlobsDir+"/sha256/"+d.Encoded(), blobs[d]); err != nil {
			return "", err
		}
	}
	if err := file(v1.ImageIndexFile, index); err != nil {
		return "", err
	}
	if err := file(v1.ImageLayoutFile, layout); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return manifestDesc.Digest, nil
}

// mergeEnv drops every K=V whose K comes again later, keeping the order of
// the rest: --env PATH=... replaces the default PATH.
func mergeEnv(env []string) []string {
	var out []string
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		later := slices.ContainsFunc(env[i+1:], func(o string) bool { return strings.HasPrefix(o, k+"=") })
		if !later {
			out = append(out, kv)
		}
	}
	return out
}
