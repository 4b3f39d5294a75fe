package endpoint

import (
	"context"
	"errors"
	"github.com/skiffhq/skiff/apis/metricsstore"
	"io"
)

// Backend is what the agent provides to its endpoint. Every method is
// called concurrently with the others.
type Backend interface {
	// Logs writes the container's log to w. opts.Tail < 0 means the whole
	// log; opts.Follow keeps streaming until ctx ends or the container's
	// log ends for good; opts.Previous reads the previous instance
	// (restartCount-1); opts.Timestamps prefixes each line with its
	// RFC3339Nano time.
	Logs(ctx context.Context, namespace, pod, container string, opts LogOptions, w io.Writer) error
	// Exec runs cmd in the container, streams its output, and returns its
	// exit code. stdin is nil unless the caller asked to send input.
	// stdout and stderr may be written concurrently.
	Exec(ctx context.Context, namespace, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (exitCode int, err error)
	// ImportImages loads an OCI or docker-archive tar and returns the
	// images it held.
	ImportImages(ctx context.Context, archive io.Reader) ([]Image, error)
	// ListImages returns every image the node holds.
	ListImages(ctx context.Context) ([]Image, error)
	// Usage returns the node's latest usage report, nil before the first.
	Usage() *metricsstore.Report
}

// LogOptions select what Logs writes.
type LogOptions struct {
	Follow, Previous, Timestamps bool
	// Tail is the number of last lines to write; < 0 means all.
	Tail int64
	// SinceSeconds > 0 writes only lines younger than that.
	SinceSeconds int64
	// LimitBytes > 0 stops after that many bytes. The endpoint enforces it
	// too; a backend may use it to stop reading early.
	LimitBytes int64
}

// Image is an image a node holds.
type Image struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Errors a Backend returns, wrapped as it likes (fmt.Errorf("...: %w")).
// The endpoint answers them with the status given and the error's text,
// preceded by the pod ("pod default/web: ") and the container
// (`container "app": `) unless the text names them already.
var (
	// ErrPodNotFound: the node runs no such pod (404).
	ErrPodNotFound = errors.New("not on this node")
	// ErrContainerNotFound: the pod has no such container, or no previous
	// instance of it (404).
	ErrContainerNotFound = errors.New("not found")
	// ErrNotRunning: exec into a container that is not running (409).
	ErrNotRunning = errors.New("not running")
	// ErrBadRequest: the request cannot be served as asked, such as an
	// archive that is not a tar (400).
	ErrBadRequest = errors.New("bad request")
)
