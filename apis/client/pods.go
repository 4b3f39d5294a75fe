package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"github.com/skiffhq/skiff/agent/endpoint"
	"github.com/skiffhq/skiff/apis/skiffv1"
)

// imagesPath mirrors apis/server.ImagesPath.
const imagesPath = "/cluster/v1/images"

// LogOptions select the part of a container's log that Logs returns.
type LogOptions struct {
	// Container names the container; it may be left out when the pod has
	// only one.
	Container string
	// Follow streams new lines until ctx ends or the container's log ends.
	Follow bool
	// Previous reads the log of the container's previous instance.
	Previous bool
	// Timestamps prefixes each line with its RFC3339Nano time.
	Timestamps bool
	// TailLines, when set, returns only that many last lines.
	TailLines *int64
	// SinceSeconds > 0 returns only lines younger than that.
	SinceSeconds int64
	// LimitBytes > 0 stops after that many bytes.
	LimitBytes int64
}

func podPath(ns, pod, sub string) string {
	return "/api/v1/namespaces/" + url.PathEscape(ns) + "/pods/" + url.PathEscape(pod) + "/" + sub
}

// Logs streams a container's log. The caller closes the reader; with
// Follow it ends when ctx does or the container's log ends for good.
func (c *Client) Logs(ctx context.Context, ns, pod string, opts LogOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	for name, on := range map[string]bool{"follow": opts.Follow, "previous": opts.Previous, "timestamps": opts.Timestamps} {
		if on {
			q.Set(name, "true")
		}
	}
	if opts.TailLines != nil && *opts.TailLines >= 0 {
		q.Set("tailLines", strconv.FormatInt(*opts.TailLines, 10))
	}
	if opts.SinceSeconds > 0 {
		q.Set("sinceSeconds", strconv.FormatInt(opts.SinceSeconds, 10))
	}
	if opts.LimitBytes > 0 {
		q.Set("limitBytes", strconv.FormatInt(opts.LimitBytes, 10))
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: podPath(ns, pod, "log"), query: q, watch: true})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, decodeError(resp.StatusCode, body)
	}
	return resp.Body, nil
}

// Exec runs cmd in a container of a pod (container may be left out when
// the pod has only one), copying its output to stdout and stderr (nil
// discards) and, when stdin is not nil, stdin to its input. It returns the
// command's exit code. A stream cut before the command ended returns
// endpoint.ErrNoExitCode; an error the agent reported after the command
// started is an *endpoint.ExecError.
//
// Reading stdin goes on in the background until it ends: a caller that
// passes os.Stdin leaves a read pending when the command exits first.
func (c *Client) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(cmd) == 0 || cmd[0] == "" {
		return -1, errors.New("exec needs a command")
	}
	q := url.Values{"command": cmd}
	if container != "" {
		q.Set("container", container)
	}
	req := request{method: http.MethodPost, path: podPath(ns, pod, "exec"), query: q, watch: true}
	if stdin != nil {
		q.Set("stdin", "true")
		req.stream, req.size = stdin, -1
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return -1, decodeError(resp.StatusCode, body)
	}
	return endpoint.Demux(resp.Body, stdout, stderr)
}

// ImportImage sends an image archive (OCI or docker-archive tar) to be
// imported into node, or into every Ready node when node is "". It
// returns each node's result; the call fails only when no node answered.
func (c *Client) ImportImage(ctx context.Context, node string, archive io.Reader) ([]skiffv1.NodeImages, error) {
	q := url.Values{}
	if node != "" {
		q.Set("node", node)
	}
	var out []skiffv1.NodeImages
	err := c.call(ctx, request{method: http.MethodPost, path: imagesPath, query: q, stream: archive, size: sizeOf(archive),
		contentType: "application/x-tar", watch: true}, &out)
	return out, err
}

// ListImages lists the images of node, or of every Ready node when node
// is "".
func (c *Client) ListImages(ctx context.Context, node string) ([]skiffv1.NodeImages, error) {
	q := url.Values{}
	if node != "" {
		q.Set("node", node)
	}
	var out []skiffv1.NodeImages
	err := c.call(ctx, request{method: http.MethodGet, path: imagesPath, query: q, watch: true}, &out)
	return out, err
}

// sizeOf is the length of what r holds, -1 when it cannot tell.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case interface{ Size() int64 }:
		return v.Size()
	case *os.File:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			if off, err := v.Seek(0, io.SeekCurrent); err == nil {
				return fi.Size() - off
			}
		}
	}
	return -1
}
