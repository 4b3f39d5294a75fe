package containerd

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/typeurl/v2"
	"github.com/skiffhq/skiff/agent/runtime"
)

// Labels the runtime itself keeps on containers, besides the agent's.
const (
	labelStartedAt  = "skiff.runtime/started-at"
	labelFinishedAt = "skiff.runtime/finished-at"
	labelExitCode   = "skiff.runtime/exit-code"
	labelOOM        = "skiff.runtime/oom-killed"
)

// Config configures the containerd runtime.
type Config struct {
	// Address is containerd's socket (absolute path).
	Address string
	// Namespace isolates this node's containers and images; one per node.
	Namespace string
	// Snapshotter unpacks images; default "overlayfs".
	Snapshotter string
	// LoggerBinary, when set, is the program containerd's shim starts to
	// write container output (see package containerlog); otherwise output
	// goes to the log file untimestamped.
	LoggerBinary string
	// LogMaxBytes and LogMaxFiles rotate container logs.
	LogMaxBytes int64
	LogMaxFiles int
	// Registries configures mirrors, plain-HTTP registries and credentials.
	Registries *RegistryConfig
	Logger     *slog.Logger
}

// Runtime is runtime.Runtime over containerd.
type Runtime struct {
	cfg    Config
	client *containerd.Client
	log    *slog.Logger
	exits  chan string
	// pullMu serializes pulls of one reference.
	pullMu sync.Map // ref -> *sync.Mutex
}

var _ runtime.Runtime = (*Runtime)(nil)

// New connects to containerd and starts following task events.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = "overlayfs"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LogMaxBytes == 0 {
		cfg.LogMaxBytes = 10 << 20
	}
	if cfg.LogMaxFiles == 0 {
		cfg.LogMaxFiles = 3
	}
	client, err := containerd.New(cfg.Address, containerd.WithDefaultNamespace(cfg.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w", cfg.Address, err)
	}
	r := &Runtime{cfg: cfg, client: client, log: cfg.Logger, exits: make(chan string, 1024)}
	go r.followEvents(ctx)
	return r, nil
}

// Close releases the connection; containers keep running.
func (r *Runtime) Close() error { return r.client.Close() }

func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// Version implements runtime.Runtime.
func (r *Runtime) Version(ctx context.Context) (string, string, error) {
	v, err := r.client.Version(r.ns(ctx))
	if err != nil {
		return "", "", err
	}
	return "containerd", v.Version, nil
}

// Exits implements runtime.Runtime.
func (r *Runtime) Exits() <-chan string { return r.exits }

// followEvents reaps exited tasks (recording their exit in labels, so the
// shim can go) and marks OOM kills; it resubscribes when containerd
// restarts.
func (r *Runtime) followEvents(ctx context.Context) {
	filter := fmt.Sprintf(`namespace==%q,topic~="/tasks/(exit|oom)"`, r.cfg.Namespace)
	for ctx.Err() == nil {
		evs, errs := r.client.Subscribe(ctx, filter)
	loop:
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-errs:
				if err != nil && ctx.Err() == nil {
					r.log.Debug("containerd events ended; resubscribing", "err", err)
				}
				break loop
			case env := <-evs:
				if env == nil || env.Event == nil {
					continue
				}
				ev, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				switch e := ev.(type) {
				case *apievents.TaskExit:
					if e.ID != e.ContainerID {
						continue // an exec'd process, not the container's
					}
					if err := r.reap(ctx, e.ContainerID); err != nil {
						r.log.Debug("reaping", "container", e.ContainerID, "err", err)
					}
					r.notify(e.ContainerID)
				case *apievents.TaskOOM:
					r.markOOM(ctx, e.ContainerID)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (r *Runtime) notify(id string) {
	select {
	case r.exits <- id:
	default: // the agent's resync catches up
	}
}

func (r *Runtime) markOOM(ctx context.Context, id string) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return
	}
	if _, err := c.SetLabels(ctx, map[string]string{labelOOM: "true"}); err != nil {
		r.log.Debug("marking OOM", "container", id, "err", err)
	}
}

// reap records a stopped task's exit in the container's labels and deletes
// the task, which lets containerd's shim exit. Reaping a container without
// a stopped task is a no-op.
func (r *Runtime) reap(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, task, err := r.loadTask(ctx, id)
	if err != nil {
		return ignoreNotFound(err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return ignoreNotFound(err)
	}
	if st.Status != containerd.Stopped {
		return nil
	}
	exitedAt := st.ExitTime
	if exitedAt.IsZero() {
		exitedAt = time.Now()
	}
	if _, err := c.SetLabels(ctx, map[string]string{
		labelExitCode:   strconv.FormatUint(uint64(st.ExitStatus), 10),
		labelFinishedAt: exitedAt.UTC().Format(time.RFC3339Nano),
	}); err != nil {
		return err
	}
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// loadTask returns a container and its task (containerd's not-found error
// when either is missing).
func (r *Runtime) loadTask(ctx context.Context, id string) (containerd.Container, containerd.Task, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	return c, task, nil
}

func ignoreNotFound(err error) error {
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// wrapNotFound turns containerd's not-found into runtime.ErrNotFound.
func wrapNotFound(what string, err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%s: %w", what, runtime.ErrNotFound)
	}
	return err
}
