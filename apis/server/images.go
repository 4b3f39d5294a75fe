package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/skiffhq/skiff/agent/endpoint"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ImagesPath imports images into nodes (POST, body = an OCI or
// docker-archive tar) and lists them (GET); ?node=N picks one node, else
// every node whose Ready condition is True. The answer is a
// []skiffv1.NodeImages, one per node, sorted by name.
const ImagesPath = "/cluster/v1/images"

// MaxImageArchiveBytes bounds an image archive.
const MaxImageArchiveBytes = 16 << 30

const (
	// listImagesTimeout bounds one agent's image list.
	listImagesTimeout = 30 * time.Second
	// maxImageFanOut bounds the agents called at once.
	maxImageFanOut = 8
)

func (s *Server) mountImages() {
	s.mux.HandleFunc("GET "+ImagesPath, s.listImages)
	s.mux.HandleFunc("POST "+ImagesPath, s.importImages)
}

// imageNodes returns the node asked for, or every Ready node.
func (s *Server) imageNodes(ctx context.Context, name string) ([]*corev1.Node, error) {
	if name != "" {
		node, err := s.node(ctx, name)
		if err != nil {
			return nil, err
		}
		return []*corev1.Node{node}, nil
	}
	res, ok := s.reg.ByKind("Node")
	if !ok {
		return nil, errors.New("this server does not serve nodes")
	}
	list, err := s.store.List(ctx, res, storage.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*corev1.Node
	for _, rec := range list.Items {
		if node, ok := rec.Object().(*corev1.Node); ok && nodeReady(node) {
			out = append(out, node)
		}
	}
	return out, nil
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) {
	nodes, err := s.imageNodes(r.Context(), r.URL.Query().Get("node"))
	if err != nil {
		writeError(w, err)
		return
	}
	s.fanOut(w, nodes, func(node *corev1.Node) ([]skiffv1.Image, bool, error) {
		ctx, cancel := context.WithTimeout(r.Context(), listImagesTimeout)
		defer cancel()
		return s.callAgentImages(ctx, node, http.MethodGet, nil, 0)
	})
}

func (s *Server) importImages(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		writeError(w, badRequest("the request body is empty: send an image archive (OCI or docker-archive tar)"))
		return
	}
	nodeName := r.URL.Query().Get("node")
	nodes, err := s.imageNodes(r.Context(), nodeName)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(nodes) == 0 {
		writeError(w, statusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
			"no node is Ready to import images into"))
		return
	}
	body := http.MaxBytesReader(w, r.Body, MaxImageArchiveBytes)
	if nodeName != "" {
		// One node: stream the archive straight through.
		s.fanOut(w, nodes, func(node *corev1.Node) ([]skiffv1.Image, bool, error) {
			return s.callAgentImages(r.Context(), node, http.MethodPost, body, r.ContentLength)
		})
		return
	}
	// Several nodes: keep the archive in a temporary file that each
	// upload reads on its own.
	f, err := os.CreateTemp(s.cfg.UploadDir, "skiff-images-*.tar")
	if err != nil {
		writeError(w, fmt.Errorf("buffering the image archive: %w", err))
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	size, err := io.Copy(f, body)
	if err != nil {
		writeError(w, bodyError(err))
		return
	}
	if size == 0 {
		writeError(w, badRequest("the request body is empty: send an image archive (OCI or docker-archive tar)"))
		return
	}
	s.fanOut(w, nodes, func(node *corev1.Node) ([]skiffv1.Image, bool, error) {
		return s.callAgentImages(r.Context(), node, http.MethodPost, io.NewSectionReader(f, 0, size), size)
	})
}

// bodyError describes a failure to read an uploaded archive.
func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return statusError(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge,
			"the image archive is larger than %d GiB", MaxImageArchiveBytes>>30)
	}
	return badRequest("reading the image archive: %v", err)
}

// fanOut calls each node (a few at a time) and answers with every node's
// result. It fails only when no agent answered at all; call reports
// whether its agent answered, even with an error.
func (s *Server) fanOut(w http.ResponseWriter, nodes []*corev1.Node, call func(*corev1.Node) ([]skiffv1.Image, bool, error)) {
	out := make([]skiffv1.NodeImages, len(nodes))
	errs := make([]error, len(nodes))
	answered := make([]bool, len(nodes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxImageFanOut)
	for i, node := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			images, ok, err := call(node)
			if images == nil {
				images = []skiffv1.Image{}
			}
			out[i] = skiffv1.NodeImages{Node: node.Name, Images: images}
			if err != nil {
				out[i].Error = statusOf(err).Message
			}
			answered[i], errs[i] = ok, err
		}()
	}
	wg.Wait()
	var failures []string
	for i, r := range out {
		if answered[i] {
			writeJSON(w, http.StatusOK, out)
			return
		}
		failures = append(failures, r.Node+": "+r.Error)
	}
	switch len(out) {
	case 0:
		writeJSON(w, http.StatusOK, out)
	case 1:
		writeError(w, errs[0])
	default:
		writeError(w, statusError(http.StatusBadGateway, "", "no agent answered: %s", strings.Join(failures, "; ")))
	}
}

// callAgentImages calls a node's agent's image endpoint. answered reports
// whether the agent answered (even with an error).
func (s *Server) callAgentImages(ctx context.Context, node *corev1.Node, method string, body io.Reader, size int64) (images []skiffv1.Image, answered bool, err error) {
	host, err := AgentAddress(node)
	if err != nil {
		return nil, false, err
	}
	req, err := http.NewRequestWithContext(ctx, method, s.agentURL(host, endpoint.ImagesPath, nil).String(), body)
	if err != nil {
		return nil, false, err
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/x-tar")
	}
	resp, err := s.agentTransport().RoundTrip(req)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, false, bodyError(err)
		}
		return nil, false, unreachableAgent(node.Name, host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, true, agentError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&images); err != nil {
		return nil, true, fmt.Errorf("decoding the answer of the agent of node %s: %w", node.Name, err)
	}
	return images, true, nil
}
