package containerd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/skiffhq/skiff/agent/runtime"
)

var execSeq atomic.Uint64

// Exec implements runtime.Runtime.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(cmd) == 0 {
		return -1, fmt.Errorf("exec: no command given")
	}
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return -1, wrapNotFound("container "+id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return -1, fmt.Errorf("container %s: %w", id, runtime.ErrNotRunning)
		}
		return -1, err
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, err
	}
	proc := *spec.Process
	proc.Args = cmd
	proc.Terminal = false
	execID := fmt.Sprintf("exec-%d-%d", time.Now().UnixNano(), execSeq.Add(1))
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr)}
	if stdin == nil {
		opts = []cio.Opt{cio.WithStreams(nil, stdout, stderr)}
	}
	p, err := task.Exec(ctx, execID, &proc, cio.NewCreator(opts...))
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = p.Delete(dctx, containerd.WithProcessKill)
	}()
	exited, err := p.Wait(ctx)
	if err != nil {
		return -1, err
	}
	if err := p.Start(ctx); err != nil {
		return -1, execStartError(cmd[0], err)
	}
	select {
	case st := <-exited:
		code, _, err := st.Result()
		if err != nil {
			return -1, err
		}
		// Let the output copiers drain before returning.
		if io := p.IO(); io != nil {
			io.Wait()
		}
		return int(code), nil
	case <-ctx.Done():
		_ = p.Kill(context.WithoutCancel(ctx), 9)
		return -1, ctx.Err()
	}
}

// execStartError says plainly that a command does not exist.
func execStartError(name string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") {
		return fmt.Errorf("exec: %q: executable file not found in the container", name)
	}
	return fmt.Errorf("exec %q: %w", name, err)
}
