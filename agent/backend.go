package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/skiffhq/skiff/agent/containerlog"
	"github.com/skiffhq/skiff/agent/endpoint"
	"github.com/skiffhq/skiff/agent/runtime"
	"github.com/skiffhq/skiff/apis/metricsstore"
	corev1 "k8s.io/api/core/v1"
)

// Backend serves the agent endpoint (logs, exec, images) from this agent.
func (a *Agent) Backend() endpoint.Backend { return backend{a} }

type backend struct{ a *Agent }

func (b backend) Usage() *metricsstore.Report { return b.a.Usage() }

func (b backend) findPod(namespace, name string) (*corev1.Pod, error) {
	for _, p := range b.a.Pods() {
		if p.Namespace == namespace && p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s: %w", namespace, name, endpoint.ErrPodNotFound)
}

// attempt returns the newest (or, with previous, the one before) container
// of a pod's container name.
func (b backend) attempt(ctx context.Context, pod *corev1.Pod, name string, previous bool) (*runtime.Container, error) {
	if findContainer(pod, name) == nil {
		return nil, fmt.Errorf("container %q: %w", name, endpoint.ErrContainerNotFound)
	}
	list, err := b.a.cfg.Runtime.ListContainers(ctx, map[string]string{labelPodUID: string(pod.UID)})
	if err != nil {
		return nil, err
	}
	pc := groupContainers(list)
	c := pc.latest(name)
	if previous {
		c = pc.previous(name)
	}
	if c == nil {
		which := "a started instance"
		if previous {
			which = "a previous instance"
		}
		return nil, fmt.Errorf("container %q has no %s: %w", name, which, endpoint.ErrContainerNotFound)
	}
	return c, nil
}

func (b backend) Logs(ctx context.Context, namespace, podName, container string, opts endpoint.LogOptions, w io.Writer) error {
	pod, err := b.findPod(namespace, podName)
	if err != nil {
		return err
	}
	c, err := b.attempt(ctx, pod, container, opts.Previous)
	if err != nil {
		return err
	}
	ro := containerlog.ReadOptions{Tail: opts.Tail, LimitBytes: opts.LimitBytes, Timestamps: opts.Timestamps,
		Follow: opts.Follow && c.State == runtime.StateRunning}
	if opts.SinceSeconds > 0 {
		ro.Since = b.a.clock.Now().Add(-time.Duration(opts.SinceSeconds) * time.Second)
	}
	if ro.Follow {
		id := c.ID
		ro.Done = func() bool {
			st, err := b.a.cfg.Runtime.ContainerStatus(context.WithoutCancel(ctx), id)
			return err != nil || st.State != runtime.StateRunning
		}
	}
	return containerlog.Read(ctx, b.a.logPath(pod, container, attemptOf(*c)), ro, w)
}

func (b backend) Exec(ctx context.Context, namespace, podName, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	pod, err := b.findPod(namespace, podName)
	if err != nil {
		return -1, err
	}
	c, err := b.attempt(ctx, pod, container, false)
	if err != nil {
		return -1, err
	}
	if c.State != runtime.StateRunning {
		return -1, fmt.Errorf("container %q: %w", container, endpoint.ErrNotRunning)
	}
	code, err := b.a.cfg.Runtime.Exec(ctx, c.ID, cmd, stdin, stdout, stderr)
	if errors.Is(err, runtime.ErrNotRunning) {
		return -1, fmt.Errorf("container %q: %w", container, endpoint.ErrNotRunning)
	}
	return code, err
}

func (b backend) ImportImages(ctx context.Context, archive io.Reader) ([]endpoint.Image, error) {
	imgs, err := b.a.cfg.Runtime.ImportImages(ctx, archive)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", endpoint.ErrBadRequest, err)
	}
	return toEndpointImages(imgs), nil
}

func (b backend) ListImages(ctx context.Context) ([]endpoint.Image, error) {
	imgs, err := b.a.cfg.Runtime.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	return toEndpointImages(imgs), nil
}

func toEndpointImages(imgs []runtime.Image) []endpoint.Image {
	out := make([]endpoint.Image, 0, len(imgs))
	for _, i := range imgs {
		out = append(out, endpoint.Image{Ref: i.Ref, Digest: i.Digest, Size: i.Size})
	}
	return out
}
