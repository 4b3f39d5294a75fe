package runtime

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors every implementation returns (wrapped) so the agent can
// tell them apart.
var (
	// ErrNotFound: no such container or image.
	ErrNotFound = errors.New("not found")
	// ErrNotRunning: the container has no running process (exec, signal).
	ErrNotRunning = errors.New("container is not running")
	// ErrImageNeverPull: the image is absent and the policy forbids a pull.
	ErrImageNeverPull = errors.New("image is not present and imagePullPolicy is Never")
)

// Runtime runs containers on one node. All methods are safe for concurrent
// use.
type Runtime interface {
	// Version names the runtime, e.g. ("containerd", "1.6.20").
	Version(ctx context.Context) (name, version string, err error)

	// EnsureImage makes ref present according to policy and returns it.
	// A pull failure is a *PullError carrying the registry's message.
	EnsureImage(ctx context.Context, ref string, policy PullPolicy, creds []Credential) (*Image, error)
	// ImportImages loads an OCI or docker-archive tar and returns the
	// images it held.
	ImportImages(ctx context.Context, archive io.Reader) ([]Image, error)
	// ListImages returns every image the node holds.
	ListImages(ctx context.Context) ([]Image, error)

	// CreateContainer creates (but does not start) a container.
	CreateContainer(ctx context.Context, spec *ContainerSpec) error
	// StartContainer starts a created container's process.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends signal (SIGTERM when 0) and, if the process is
	// still running after grace, SIGKILL. It returns once the process has
	// exited; stopping a stopped container is a no-op.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer removes a stopped container and its filesystem.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers returns the node's containers, running or not, whose
	// labels include every label in match (nil: all of them).
	ListContainers(ctx context.Context, match map[string]string) ([]Container, error)
	// ContainerStatus returns one container.
	ContainerStatus(ctx context.Context, id string) (*Container, error)

	// Exec runs cmd inside a running container, streaming its output; it
	// returns the exit code. stdin may be nil.
	Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error)
	// Usage returns the container's CPU and memory use.
	Usage(ctx context.Context, id string) (*Usage, error)
	// Exits receives a container ID whenever a container's process ends,
	// so the agent reacts at once instead of at its next resync.
	Exits() <-chan string
}

// PullPolicy is a container's imagePullPolicy.
type PullPolicy string

// Pull policies, as Kubernetes spells them.
const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// Credential authenticates pulls from one registry host.
type Credential struct {
	Host     string // "docker.io", "127.0.0.1:5000"
	Username string
	Password string
	Auth     string // base64 user:password, as in .dockerconfigjson
}

// PullError is a failed pull with the registry's own words.
type PullError struct {
	Ref string
	Err error
}

func (e *PullError) Error() string { return "pulling " + e.Ref + ": " + e.Err.Error() }
func (e *PullError) Unwrap() error { return e.Err }

// Image is an image present on the node.
type Image struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// Config is what the image says to run (entrypoint, cmd, env, workdir).
	Config ImageConfig `json:"-"`
}

// ImageConfig is the part of an image's configuration a container inherits.
type ImageConfig struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
}

// ContainerSpec is everything needed to create a container.
type ContainerSpec struct {
	ID    string
	Image string // a reference EnsureImage returned
	// Labels identify the container's pod, name and attempt; they survive
	// an agent restart and are how the agent adopts running containers.
	Labels map[string]string
	// Command and Args follow Kubernetes: Command replaces the image's
	// entrypoint, Args its cmd.
	Command    []string
	Args       []string
	Env        []string
	WorkingDir string
	Mounts     []Mount
	// NetNSPath joins the pod's network namespace.
	NetNSPath string
	Hostname  string
	Resources Resources
	// LogPath is the file the container's stdout and stderr go to.
	LogPath string
}

// Mount binds a host path into the container.
type Mount struct {
	HostPath      string
	ContainerPath string
	ReadOnly      bool
}

// Resources are the cgroup limits of a container.
type Resources struct {
	CPUShares   uint64 // from the CPU request
	CPUQuota    int64  // from the CPU limit, per CPUPeriod; 0 = unlimited
	CPUPeriod   uint64
	MemoryLimit int64 // bytes; 0 = unlimited
}

// State is a container's life stage.
type State string

// Container states.
const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
	StateUnknown State = "unknown"
)

// Container is a container as the runtime sees it now.
type Container struct {
	ID         string
	Image      string
	ImageID    string
	Labels     map[string]string
	State      State
	PID        uint32
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int32
	// OOMKilled is set when the kernel killed the process for memory.
	OOMKilled bool
	// Message explains an exit that is not the process's own: the
	// process could not be started (the exit code is then 128).
	Message string
}

// Usage is a container's resource use at one moment.
type Usage struct {
	Time time.Time
	// CPUNanos is the cumulative CPU time used.
	CPUNanos uint64
	// MemoryWorkingSet is memory in use minus inactive file cache, as the
	// kubelet reports it.
	MemoryWorkingSet uint64
}
