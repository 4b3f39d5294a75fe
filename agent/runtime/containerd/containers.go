package containerd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/skiffhq/skiff/agent/runtime"
)

// CreateContainer implements runtime.Runtime.
func (r *Runtime) CreateContainer(ctx context.Context, spec *runtime.ContainerSpec) error {
	ctx = r.ns(ctx)
	img, err := r.client.GetImage(ctx, spec.Image)
	if err != nil {
		return wrapNotFound("image "+spec.Image, err)
	}
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		seccomp.WithDefaultProfile(),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: spec.NetNSPath}),
	}
	if args := processArgs(spec, img, ctx); args != nil {
		opts = append(opts, oci.WithProcessArgs(args...))
	}
	if spec.Hostname != "" {
		opts = append(opts, oci.WithHostname(spec.Hostname))
	}
	if len(spec.Env) > 0 {
		opts = append(opts, oci.WithEnv(spec.Env))
	}
	if spec.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(spec.WorkingDir))
	}
	var mounts []specs.Mount
	for _, m := range spec.Mounts {
		o := []string{"rbind", "rprivate", "rw"}
		if m.ReadOnly {
			o[2] = "ro"
		}
		mounts = append(mounts, specs.Mount{Destination: m.ContainerPath, Type: "bind", Source: m.HostPath, Options: o})
	}
	if len(mounts) > 0 {
		opts = append(opts, oci.WithMounts(mounts))
	}
	res := spec.Resources
	if res.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(res.MemoryLimit)))
	}
	if res.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(res.CPUShares))
	}
	if res.CPUQuota > 0 {
		opts = append(opts, oci.WithCPUCFS(res.CPUQuota, res.CPUPeriod))
	}
	_, err = r.client.NewContainer(ctx, spec.ID,
		containerd.WithImage(img),
		containerd.WithSnapshotter(r.cfg.Snapshotter),
		containerd.WithNewSnapshot(spec.ID, img),
		containerd.WithContainerLabels(withLabel(spec.Labels, labelLogPath, spec.LogPath)),
		containerd.WithNewSpec(opts...),
	)
	if err != nil {
		return fmt.Errorf("creating container %s: %w", spec.ID, err)
	}
	return nil
}

const labelLogPath = "skiff.runtime/log-path"

func withLabel(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// processArgs applies Kubernetes' rule: command replaces the entrypoint,
// args replace the cmd. nil keeps the image's own.
func processArgs(spec *runtime.ContainerSpec, img containerd.Image, ctx context.Context) []string {
	if len(spec.Command) == 0 && len(spec.Args) == 0 {
		return nil
	}
	if len(spec.Command) > 0 {
		return append(append([]string{}, spec.Command...), spec.Args...)
	}
	ic, err := img.Spec(ctx)
	if err != nil {
		return spec.Args
	}
	return append(append([]string{}, ic.Config.Entrypoint...), spec.Args...)
}

// StartContainer implements runtime.Runtime.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return wrapNotFound("container "+id, err)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return err
	}
	logPath := labels[labelLogPath]
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	var creator cio.Creator
	if r.cfg.LoggerBinary != "" {
		creator = cio.BinaryIO(r.cfg.LoggerBinary, map[string]string{
			LoggerCommand: fmt.Sprintf("%d:%d:%s", r.cfg.LogMaxBytes, r.cfg.LogMaxFiles, logPath),
		})
	} else {
		creator = cio.LogFile(logPath)
	}
	task, err := c.NewTask(ctx, creator)
	if err != nil {
		return r.startFailed(ctx, c, err)
	}
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		return r.startFailed(ctx, c, err)
	}
	if _, err := c.SetLabels(ctx, map[string]string{labelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
		return err
	}
	return nil
}

// startFailed records on the container that its process never started
// (exit 128 and the reason, as Kubernetes reports a StartError).
func (r *Runtime) startFailed(ctx context.Context, c containerd.Container, err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "exec: "); i >= 0 {
		msg = msg[i:] // runc's own words, without the gRPC wrapping
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if _, lerr := c.SetLabels(ctx, map[string]string{labelExitCode: "128", labelStartedAt: now, labelFinishedAt: now,
		labelStartError: msg}); lerr != nil {
		r.log.Debug("recording a start failure", "container", c.ID(), "err", lerr)
	}
	return fmt.Errorf("starting container %s: %s", c.ID(), msg)
}

const labelStartError = "skiff.runtime/start-error"

// LoggerCommand is the first argument containerd's shim gives the logging
// binary; the skiff executable answers to it (see package containerlog).
const LoggerCommand = "container-logger"

// StopContainer implements runtime.Runtime.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.ns(ctx)
	_, task, err := r.loadTask(ctx, id)
	if err != nil {
		return ignoreNotFound(err)
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return ignoreNotFound(err)
	}
	st, err := task.Status(ctx)
	if err == nil && st.Status == containerd.Running {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exited:
		case <-timer.C:
			if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
				return err
			}
			select {
			case <-exited:
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	} else if err == nil && st.Status == containerd.Created {
		// Never started: nothing to signal, only the task to delete.
		if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			r.log.Debug("killing a created task", "container", id, "err", err)
		}
	}
	return r.reap(ctx, id)
}

// RemoveContainer implements runtime.Runtime.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return ignoreNotFound(err)
	}
	if task, err := c.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("removing the task of %s: %w", id, err)
		}
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	return nil
}

// ListContainers implements runtime.Runtime.
func (r *Runtime) ListContainers(ctx context.Context, match map[string]string) ([]runtime.Container, error) {
	ctx = r.ns(ctx)
	var filters []string
	if len(match) > 0 {
		var conds []string
		for k, v := range match {
			conds = append(conds, fmt.Sprintf("labels.%q==%q", k, v))
		}
		filters = append(filters, strings.Join(conds, ","))
	}
	cs, err := r.client.Containers(ctx, filters...)
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Container, 0, len(cs))
	for _, c := range cs {
		st, err := r.status(ctx, c)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue // removed meanwhile
			}
			return nil, err
		}
		out = append(out, *st)
	}
	return out, nil
}

// ContainerStatus implements runtime.Runtime.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (*runtime.Container, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, wrapNotFound("container "+id, err)
	}
	st, err := r.status(ctx, c)
	if err != nil {
		return nil, wrapNotFound("container "+id, err)
	}
	return st, nil
}

func (r *Runtime) status(ctx context.Context, c containerd.Container) (*runtime.Container, error) {
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return nil, err
	}
	out := containerFromInfo(info)
	task, err := c.Task(ctx, nil)
	switch {
	case errdefs.IsNotFound(err):
		if _, done := info.Labels[labelExitCode]; !done && !out.StartedAt.IsZero() {
			// Started, but its task is gone without a recorded exit:
			// containerd lost it (a host reboot, a removed state dir).
			out.State, out.ExitCode = runtime.StateExited, 255
		}
		return out, nil
	case err != nil:
		return nil, err
	}
	st, err := task.Status(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return out, nil
		}
		return nil, err
	}
	switch st.Status {
	case containerd.Running, containerd.Paused, containerd.Pausing:
		out.State, out.PID = runtime.StateRunning, task.Pid()
	case containerd.Created:
		out.State = runtime.StateCreated
	case containerd.Stopped:
		// Not reaped yet (the event is on its way): report it as exited.
		out.State, out.ExitCode = runtime.StateExited, int32(st.ExitStatus)
		out.FinishedAt = st.ExitTime
		if err := r.reap(ctx, c.ID()); err != nil {
			r.log.Debug("reaping", "container", c.ID(), "err", err)
		}
	default:
		out.State = runtime.StateUnknown
	}
	return out, nil
}

// containerFromInfo reads what the labels recorded.
func containerFromInfo(info containers.Container) *runtime.Container {
	out := &runtime.Container{ID: info.ID, Image: info.Image, Labels: info.Labels, State: runtime.StateCreated,
		CreatedAt: info.CreatedAt}
	if t, err := time.Parse(time.RFC3339Nano, info.Labels[labelStartedAt]); err == nil {
		out.StartedAt = t
	}
	if code, ok := info.Labels[labelExitCode]; ok {
		n, _ := strconv.Atoi(code)
		out.State, out.ExitCode = runtime.StateExited, int32(n)
		if t, err := time.Parse(time.RFC3339Nano, info.Labels[labelFinishedAt]); err == nil {
			out.FinishedAt = t
		}
	}
	out.OOMKilled = info.Labels[labelOOM] == "true"
	out.Message = info.Labels[labelStartError]
	return out
}
