package containerd

import (
	"context"
	"fmt"
	"time"

	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/containerd/errdefs"
	v1 "github.com/containerd/containerd/metrics/types/v1"
	"github.com/containerd/typeurl/v2"
	"github.com/skiffhq/skiff/agent/runtime"
)

// Usage implements runtime.Runtime.
func (r *Runtime) Usage(ctx context.Context, id string) (*runtime.Usage, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, wrapNotFound("container "+id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotRunning)
		}
		return nil, err
	}
	m, err := task.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return nil, err
	}
	u := &runtime.Usage{Time: time.Now()}
	if m.Timestamp != nil {
		u.Time = m.Timestamp.AsTime()
	}
	switch s := data.(type) {
	case *v1.Metrics:
		if s.CPU != nil && s.CPU.Usage != nil {
			u.CPUNanos = s.CPU.Usage.Total
		}
		if s.Memory != nil && s.Memory.Usage != nil {
			u.MemoryWorkingSet = sub(s.Memory.Usage.Usage, s.Memory.TotalInactiveFile)
		}
	case *v2.Metrics:
		if s.CPU != nil {
			u.CPUNanos = s.CPU.UsageUsec * 1000
		}
		if s.Memory != nil {
			u.MemoryWorkingSet = sub(s.Memory.Usage, s.Memory.InactiveFile)
		}
	default:
		return nil, fmt.Errorf("unknown metrics type %T", data)
	}
	return u, nil
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
