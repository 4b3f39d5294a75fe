package runtime

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fake is an in-memory Runtime: containers "run" until a test makes them
// exit. It serves unit tests of the agent and scale benchmarks (where it
// stands in for containerd); it never runs anything.
type Fake struct {
	mu         sync.Mutex
	now        func() time.Time
	images     map[string]Image
	containers map[string]*Container
	exits      chan string
	pid        uint32
	// PullErrors makes EnsureImage fail for a reference.
	PullErrors map[string]error
	// ExecFunc answers Exec; nil answers exit code 0 with no output.
	ExecFunc func(id string, cmd []string, stdout, stderr io.Writer) int
	// StartErrors makes StartContainer fail for an image (e.g. a missing
	// command).
	StartErrors map[string]error
	// Calls counts method calls by name; read it with Count.
	Calls map[string]int
}

var _ Runtime = (*Fake)(nil)

// NewFake returns an empty fake runtime; now may be nil.
func NewFake(now func() time.Time) *Fake {
	if now == nil {
		now = time.Now
	}
	return &Fake{now: now, images: map[string]Image{}, containers: map[string]*Container{},
		exits: make(chan string, 1024), PullErrors: map[string]error{}, StartErrors: map[string]error{}, Calls: map[string]int{}}
}

func (f *Fake) called(name string) { f.Calls[name]++ }

// AddImage makes an image present.
func (f *Fake) AddImage(img Image) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[img.Ref] = img
}

// Version implements Runtime.
func (f *Fake) Version(context.Context) (string, string, error) { return "fake", "0", nil }

// EnsureImage implements Runtime. A pull "succeeds" for any reference
// without a PullErrors entry.
func (f *Fake) EnsureImage(_ context.Context, ref string, policy PullPolicy, _ []Credential) (*Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.called("EnsureImage")
	if img, ok := f.images[ref]; ok && policy != PullAlways {
		return &img, nil
	}
	if policy == PullNever {
		return nil, fmt.Errorf("%s: %w", ref, ErrImageNeverPull)
	}
	if err := f.PullErrors[ref]; err != nil {
		return nil, &PullError{Ref: ref, Err: err}
	}
	f.called("Pull")
	img := Image{Ref: ref, Digest: "sha256:fake", Size: 1}
	f.images[ref] = img
	return &img, nil
}

// ImportImages implements Runtime: the archive's content is taken as one
// image reference per line.
func (f *Fake) ImportImages(_ context.Context, r io.Reader) ([]Image, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Image
	for _, ref := range strings.Fields(string(raw)) {
		img := Image{Ref: ref, Digest: "sha256:fake", Size: int64(len(raw))}
		f.images[ref] = img
		out = append(out, img)
	}
	return out, nil
}

// ListImages implements Runtime.
func (f *Fake) ListImages(context.Context) ([]Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Image
	for _, img := range f.images {
		out = append(out, img)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Ref < out[b].Ref })
	return out, nil
}

// CreateContainer implements Runtime.
func (f *Fake) CreateContainer(_ context.Context, spec *ContainerSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.called("CreateContainer")
	if _, dup := f.containers[spec.ID]; dup {
		return fmt.Errorf("container %s already exists", spec.ID)
	}
	if _, ok := f.images[spec.Image]; !ok {
		return fmt.Errorf("image %s: %w", spec.Image, ErrNotFound)
	}
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	f.containers[spec.ID] = &Container{ID: spec.ID, Image: spec.Image, Labels: labels, State: StateCreated, CreatedAt: f.now()}
	return nil
}

// StartContainer implements Runtime.
func (f *Fake) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.called("StartContainer")
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if err := f.StartErrors[c.Image]; err != nil {
		c.State, c.ExitCode, c.Message, c.FinishedAt = StateExited, 128, err.Error(), f.now()
		return err
	}
	f.pid++
	c.State, c.PID, c.StartedAt = StateRunning, f.pid, f.now()
	return nil
}

// Exit ends a running container's process with code, as if it exited.
func (f *Fake) Exit(id string, code int32, oom bool) {
	f.mu.Lock()
	c, ok := f.containers[id]
	if ok && c.State == StateRunning {
		c.State, c.ExitCode, c.FinishedAt, c.OOMKilled, c.PID = StateExited, code, f.now(), oom, 0
	}
	f.mu.Unlock()
	if ok {
		f.exits <- id
	}
}

// StopContainer implements Runtime: the process "exits" at once with 137
// when it had to be killed, or 0 for SIGTERM (grace > 0).
func (f *Fake) StopContainer(_ context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	f.called("StopContainer")
	c, ok := f.containers[id]
	if !ok || c.State != StateRunning {
		f.mu.Unlock()
		return nil
	}
	c.State, c.FinishedAt, c.PID = StateExited, f.now(), 0
	c.ExitCode = 0
	if grace == 0 {
		c.ExitCode = 137
	}
	f.mu.Unlock()
	// As containerd does, a stopped container's exit is reported.
	select {
	case f.exits <- id:
	default:
	}
	return nil
}

// RemoveContainer implements Runtime.
func (f *Fake) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.called("RemoveContainer")
	delete(f.containers, id)
	return nil
}

// ListContainers implements Runtime.
func (f *Fake) ListContainers(_ context.Context, match map[string]string) ([]Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Container, 0, len(f.containers))
next:
	for _, c := range f.containers {
		for k, v := range match {
			if c.Labels[k] != v {
				continue next
			}
		}
		out = append(out, copyContainer(c))
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out, nil
}

// ContainerStatus implements Runtime.
func (f *Fake) ContainerStatus(_ context.Context, id string) (*Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	cp := copyContainer(c)
	return &cp, nil
}

func copyContainer(c *Container) Container {
	cp := *c
	cp.Labels = map[string]string{}
	for k, v := range c.Labels {
		cp.Labels[k] = v
	}
	return cp
}

// Exec implements Runtime.
func (f *Fake) Exec(_ context.Context, id string, cmd []string, _ io.Reader, stdout, stderr io.Writer) (int, error) {
	f.mu.Lock()
	c, ok := f.containers[id]
	running := ok && c.State == StateRunning
	fn := f.ExecFunc
	f.mu.Unlock()
	if !ok {
		return -1, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if !running {
		return -1, fmt.Errorf("container %s: %w", id, ErrNotRunning)
	}
	if fn == nil {
		return 0, nil
	}
	return fn(id, cmd, stdout, stderr), nil
}

// Usage implements Runtime: a running container uses 1 ms of CPU per
// call and 1 MiB of memory.
func (f *Fake) Usage(_ context.Context, id string) (*Usage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if c.State != StateRunning {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotRunning)
	}
	return &Usage{Time: f.now(), CPUNanos: uint64(f.now().Sub(c.StartedAt).Nanoseconds() / 1000), MemoryWorkingSet: 1 << 20}, nil
}

// Exits implements Runtime.
func (f *Fake) Exits() <-chan string { return f.exits }

// Count returns how often a method was called.
func (f *Fake) Count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Calls[method]
}
