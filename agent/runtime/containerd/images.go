package containerd

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/reference/docker"
	remotesdocker "github.com/containerd/containerd/remotes/docker"
	"github.com/containerd/platforms"
	"github.com/skiffhq/skiff/agent/runtime"
)

// NormalizeRef turns a user's image reference into containerd's full name
// the way Docker does: "busybox" is "docker.io/library/busybox:latest".
func NormalizeRef(ref string) (string, error) {
	named, err := docker.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	return named.String(), nil
}

// EnsureImage implements runtime.Runtime.
func (r *Runtime) EnsureImage(ctx context.Context, ref string, policy runtime.PullPolicy, creds []runtime.Credential) (*runtime.Image, error) {
	ctx = r.ns(ctx)
	name, err := NormalizeRef(ref)
	if err != nil {
		return nil, err
	}
	mu, _ := r.pullMu.LoadOrStore(name, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	if policy != runtime.PullAlways {
		img, err := r.client.GetImage(ctx, name)
		switch {
		case err == nil:
			if err := r.unpack(ctx, img); err != nil {
				return nil, err
			}
			return r.describe(ctx, img)
		case !errdefs.IsNotFound(err):
			return nil, err
		case policy == runtime.PullNever:
			return nil, fmt.Errorf("%s: %w", name, runtime.ErrImageNeverPull)
		}
	}
	resolver := remotesdocker.NewResolver(remotesdocker.ResolverOptions{Hosts: r.cfg.Registries.hosts(creds)})
	img, err := r.client.Pull(ctx, name, containerd.WithResolver(resolver), containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(r.cfg.Snapshotter))
	if err != nil {
		return nil, &runtime.PullError{Ref: name, Err: err}
	}
	return r.describe(ctx, img)
}

func (r *Runtime) unpack(ctx context.Context, img containerd.Image) error {
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err != nil || ok {
		return err
	}
	return img.Unpack(ctx, r.cfg.Snapshotter)
}

// describe reads an image's size and run configuration.
func (r *Runtime) describe(ctx context.Context, img containerd.Image) (*runtime.Image, error) {
	size, err := img.Size(ctx)
	if err != nil {
		return nil, err
	}
	out := &runtime.Image{Ref: img.Name(), Digest: img.Target().Digest.String(), Size: size}
	spec, err := img.Spec(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration of %s: %w", img.Name(), err)
	}
	out.Config = runtime.ImageConfig{Entrypoint: spec.Config.Entrypoint, Cmd: spec.Config.Cmd,
		Env: spec.Config.Env, WorkingDir: spec.Config.WorkingDir, User: spec.Config.User}
	return out, nil
}

// ImportImages implements runtime.Runtime.
func (r *Runtime) ImportImages(ctx context.Context, archive io.Reader) ([]runtime.Image, error) {
	ctx = r.ns(ctx)
	// A lease keeps the imported content from garbage collection until
	// the images name it.
	ctx, done, err := r.client.WithLease(ctx)
	if err != nil {
		return nil, err
	}
	defer done(ctx)
	imgs, err := r.client.Import(ctx, archive, containerd.WithImportPlatform(defaultPlatform()))
	if err != nil {
		return nil, fmt.Errorf("importing: %w", err)
	}
	var out []runtime.Image
	for _, i := range imgs {
		img := containerd.NewImageWithPlatform(r.client, i, defaultPlatform())
		if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpacking %s: %w", i.Name, err)
		}
		d, err := r.describe(ctx, img)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, nil
}

// ListImages implements runtime.Runtime.
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	ctx = r.ns(ctx)
	imgs, err := r.client.ImageService().List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Image, 0, len(imgs))
	for _, i := range imgs {
		size, err := i.Size(ctx, r.client.ContentStore(), defaultPlatform())
		if err != nil {
			size = -1
		}
		out = append(out, runtime.Image{Ref: i.Name, Digest: i.Target.Digest.String(), Size: size})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Ref < out[b].Ref })
	return out, nil
}

// defaultPlatform matches this host's platform only: a multi-platform
// image unpacks just what can run here.
func defaultPlatform() platforms.MatchComparer { return platforms.Default() }
