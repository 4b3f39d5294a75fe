package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// readTar returns a tar's regular files by name and all its headers in order.
func readTar(t *testing.T, b []byte) (map[string][]byte, []*tar.Header) {
	t.Helper()
	files := map[string][]byte{}
	var hdrs []*tar.Header
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, hdrs
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, hdr)
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[hdr.Name] = data
		}
	}
}

// blob returns the layout blob desc points at, checking digest and size.
func blob(t *testing.T, files map[string][]byte, desc v1.Descriptor) []byte {
	t.Helper()
	b, ok := files["blobs/sha256/"+desc.Digest.Encoded()]
	if !ok {
		t.Fatalf("blob %s (%s) missing", desc.Digest, desc.MediaType)
	}
	if got := digest.FromBytes(b); got != desc.Digest || int64(len(b)) != desc.Size {
		t.Fatalf("blob %s: digest %s, size %d; descriptor says size %d", desc.Digest, got, len(b), desc.Size)
	}
	return b
}

func testConfig(t *testing.T) config {
	t.Helper()
	dir := t.TempDir()
	busybox := filepath.Join(dir, "busybox")
	binary := filepath.Join(dir, "skiff-echo")
	if err := os.WriteFile(busybox, []byte("not really busybox"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(binary, []byte("not really skiff-echo"), 0o600); err != nil {
		t.Fatal(err)
	}
	return config{
		busybox: busybox,
		binary:  binary,
		ref:     "skiff.local/echo:1",
		env:     []string{"ECHO_VERSION=1"},
		out:     filepath.Join(dir, "echo.tar"),
	}
}

func TestWriteImage(t *testing.T) {
	cfg := testConfig(t)
	dgst, err := writeImage(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(cfg.out)
	if err != nil {
		t.Fatal(err)
	}
	files, hdrs := readTar(t, out)
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
	}
	if !slices.IsSorted(names) {
		t.Errorf("entries not sorted: %v", names)
	}

	var layout v1.ImageLayout
	if err := json.Unmarshal(files["oci-layout"], &layout); err != nil || layout.Version != "1.0.0" {
		t.Fatalf("oci-layout %q: %v", files["oci-layout"], err)
	}
	var index v1.Index
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 {
		t.Fatalf("index has %d manifests", len(index.Manifests))
	}
	md := index.Manifests[0]
	if md.Digest != dgst || md.MediaType != v1.MediaTypeImageManifest {
		t.Fatalf("index manifest %+v, want digest %s", md, dgst)
	}
	if got := md.Annotations["io.containerd.image.name"]; got != "skiff.local/echo:1" {
		t.Errorf("io.containerd.image.name = %q", got)
	}
	if got := md.Annotations["org.opencontainers.image.ref.name"]; got != "1" {
		t.Errorf("org.opencontainers.image.ref.name = %q", got)
	}

	var manifest v1.Manifest
	if err := json.Unmarshal(blob(t, files, md), &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != v1.MediaTypeImageLayer {
		t.Fatalf("layers %+v", manifest.Layers)
	}
	var config v1.Image
	if err := json.Unmarshal(blob(t, files, manifest.Config), &config); err != nil {
		t.Fatal(err)
	}
	layer := blob(t, files, manifest.Layers[0])

	c := config.Config
	if config.OS != "linux" || config.Architecture != "amd64" ||
		!slices.Equal(c.Entrypoint, []string{"/usr/local/bin/skiff-echo"}) || c.WorkingDir != "/" ||
		!slices.Equal(c.Env, []string{"PATH=/usr/local/bin:/bin:/usr/bin:/sbin:/usr/sbin", "ECHO_VERSION=1"}) ||
		c.Labels["org.opencontainers.image.version"] != "1" {
		t.Errorf("config %+v", config)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("8080/tcp not exposed: %v", c.ExposedPorts)
	}
	if len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != manifest.Layers[0].Digest {
		t.Errorf("diff IDs %v", config.RootFS.DiffIDs)
	}

	checkLayer(t, layer)
	checkSkopeo(t, cfg.out)
}

func checkLayer(t *testing.T, layer []byte) {
	t.Helper()
	files, hdrs := readTar(t, layer)
	byName := map[string]*tar.Header{}
	var names []string
	for _, h := range hdrs {
		byName[h.Name] = h
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: uid %d gid %d mtime %v", h.Name, h.Uid, h.Gid, h.ModTime)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("layer entries not sorted: %v", names)
	}
	if string(files["bin/busybox"]) != "not really busybox" || string(files["usr/local/bin/skiff-echo"]) != "not really skiff-echo" {
		t.Error("binaries not in the layer")
	}
	for _, a := range []string{"sh", "ash", "httpd", "wget", "nslookup", "sleep", "hostname", "cat", "ls",
		"echo", "env", "ps", "kill", "mkdir", "rm", "touch", "true", "false", "id", "date", "grep", "head",
		"tail", "wc", "printf", "test", "[", "uname", "ip", "ifconfig", "netstat", "nc", "top", "du", "df", "mount"} {
		h := byName["bin/"+a]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s: %+v, want a link to busybox", a, h)
		}
	}
	modes := map[string]int64{"tmp/": 0o1777, "data/": 0o755, "root/": 0o700, "bin/busybox": 0o755,
		"usr/local/bin/skiff-echo": 0o755, "etc/passwd": 0o644}
	for name, mode := range modes {
		if h := byName[name]; h == nil || h.Mode != mode {
			t.Errorf("%s: %+v, want mode %o", name, h, mode)
		}
	}
	for _, name := range []string{"etc/hosts", "etc/resolv.conf"} {
		if h := byName[name]; h == nil || h.Typeflag != tar.TypeReg || h.Size != 0 {
			t.Errorf("%s: %+v, want an empty file", name, h)
		}
	}
	if !bytes.Contains(files["etc/passwd"], []byte("root:x:0:0:")) || !bytes.Contains(files["etc/passwd"], []byte("nobody:x:65534:")) {
		t.Errorf("etc/passwd: %q", files["etc/passwd"])
	}
}

// checkSkopeo has skopeo, when installed, read the archive as a client would.
func checkSkopeo(t *testing.T, path string) {
	t.Helper()
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Log("skopeo not installed; skipping skopeo inspect")
		return
	}
	out, err := exec.Command(skopeo, "inspect", "oci-archive:"+path).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	var inspect struct {
		Architecture, Os string
		Env              []string
	}
	if err := json.Unmarshal(out, &inspect); err != nil {
		t.Fatalf("skopeo inspect output: %v\n%s", err, out)
	}
	if inspect.Architecture != "amd64" || inspect.Os != "linux" || !slices.Contains(inspect.Env, "ECHO_VERSION=1") {
		t.Errorf("skopeo inspect: %s", out)
	}
}

func TestWriteImageDeterministic(t *testing.T) {
	cfg := testConfig(t)
	build := func(out string) []byte {
		t.Helper()
		cfg.out = out
		if _, err := writeImage(cfg); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dir := t.TempDir()
	first := build(filepath.Join(dir, "a.tar"))
	// A later mtime on an input must not matter, only its content.
	if err := os.Chtimes(cfg.binary, epoch.AddDate(30, 0, 0), epoch.AddDate(30, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if second := build(filepath.Join(dir, "b.tar")); !bytes.Equal(first, second) {
		t.Fatal("same inputs, different bytes")
	}
	cfg.env = []string{"ECHO_VERSION=2"}
	if third := build(filepath.Join(dir, "c.tar")); bytes.Equal(first, third) {
		t.Fatal("different env, same bytes")
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in, name, tag string
		ok            bool
	}{
		{"skiff.local/echo:1", "skiff.local/echo", "1", true},
		{"localhost:5000/team/echo:v1.2-rc_1", "localhost:5000/team/echo", "v1.2-rc_1", true},
		{"localhost/echo:latest", "localhost/echo", "latest", true},
		{"echo:1", "", "", false},             // no registry
		{"team/echo:1", "", "", false},        // "team" is no host
		{"skiff.local/echo", "", "", false},   // no tag
		{"skiff.local/Echo:1", "", "", false}, // upper case
		{"skiff.local/echo@sha256:ab", "", "", false},
		{"skiff.local/echo:-bad", "", "", false},
	}
	for _, tt := range tests {
		got, err := parseRef(tt.in)
		if (err == nil) != tt.ok || got.name != tt.name || got.tag != tt.tag {
			t.Errorf("parseRef(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1", "PATH=/x", "A=2", "B=3"})
	if want := []string{"PATH=/x", "A=2", "B=3"}; !slices.Equal(got, want) {
		t.Fatalf("mergeEnv = %v, want %v", got, want)
	}
}

func TestCheckStatic(t *testing.T) {
	cfg := testConfig(t)
	if err := checkStatic(cfg.busybox); err == nil {
		t.Error("a text file passed as a static binary")
	}
	// Debian's ls is dynamically linked.
	if _, err := os.Stat("/bin/ls"); err == nil {
		if err := checkStatic("/bin/ls"); !errors.Is(err, errNotStatic) {
			t.Errorf("/bin/ls: %v, want %v", err, errNotStatic)
		}
	}
}
