// Command skiff-mkimage writes the image of skiff's end-to-end tests as an
// OCI image layout tar, without a container engine: one layer holding a
// static busybox (the shell and tools), the skiff-echo binary as the
// entrypoint, and the few files a container needs. `make images` runs it:
//
//	skiff-mkimage --busybox /bin/busybox --binary bin/skiff-echo \
//	    --ref skiff.local/echo:1 --env ECHO_VERSION=1 -o examples/images/echo.tar
//
// The tar imports with `ctr images import` and reads with
// `skopeo inspect oci-archive:<tar>`. The same inputs always give the same
// bytes: entries are sorted, owned by root and dated at the Unix epoch.
package main

import (
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
)

// config is what the command line asks for.
type config struct {
	busybox string   // static busybox binary, installed as /bin/busybox
	binary  string   // static binary installed as the entrypoint
	ref     string   // e.g. skiff.local/echo:1
	env     []string // K=V added to the image's environment
	out     string   // the tar to write
}

func main() {
	var cfg config
	flag.StringVar(&cfg.busybox, "busybox", "/bin/busybox", "static busybox binary (Debian: apt-get install busybox-static)")
	flag.StringVar(&cfg.binary, "binary", "bin/skiff-echo", "static binary installed as "+entrypoint)
	flag.StringVar(&cfg.ref, "ref", "skiff.local/echo:1", "image reference, registry/name:tag")
	flag.StringVar(&cfg.out, "o", "", "output tar (required)")
	flag.Func("env", "`K=V` added to the image's environment (repeatable)", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("%q: want K=V", v)
		}
		cfg.env = append(cfg.env, v)
		return nil
	})
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments: %v", flag.Args()))
	}
	if err := run(cfg); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "skiff-mkimage:", err)
	os.Exit(1)
}

func run(cfg config) error {
	if cfg.out == "" {
		return errors.New("-o: missing")
	}
	if err := checkStatic(cfg.busybox); err != nil {
		return fmt.Errorf("--busybox: %w (apt-get install busybox-static)", err)
	}
	if err := checkStatic(cfg.binary); err != nil {
		return fmt.Errorf("--binary: %w (build it with CGO_ENABLED=0)", err)
	}
	dgst, err := writeImage(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s %s\n", cfg.out, cfg.ref, dgst)
	return nil
}

// writeImage builds the image cfg describes and writes its layout tar to
// cfg.out, replacing it whole. It returns the manifest's digest.
func writeImage(cfg config) (digest.Digest, error) {
	ref, err := parseRef(cfg.ref)
	if err != nil {
		return "", err
	}
	layer, err := buildLayer(cfg.busybox, cfg.binary)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(cfg.out), ".skiff-mkimage-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	dgst, err := writeLayout(tmp, image{ref: ref, env: cfg.env, layer: layer})
	if err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), cfg.out); err != nil {
		return "", err
	}
	return dgst, nil
}

// errNotStatic is returned for a binary that needs a dynamic loader: the
// image has no libc for it.
var errNotStatic = errors.New("not statically linked")

// checkStatic makes sure path is an x86-64 ELF executable without a
// program interpreter, one that can run in an image with no libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%s: built for %v, the image is linux/amd64", path, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s: %w", path, errNotStatic)
		}
	}
	return nil
}
