package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ImagesPath is where images are imported (POST) and listed (GET).
const ImagesPath = "/images"

// UsagePath serves the node's latest usage report (GET), which the leader
// scrapes.
const UsagePath = "/usage"

// LogsPath is the path of a container's log.
func LogsPath(namespace, pod, container string) string {
	return containerPath(namespace, pod, container) + "/logs"
}

// ExecPath is the path that runs a command in a container.
func ExecPath(namespace, pod, container string) string {
	return containerPath(namespace, pod, container) + "/exec"
}

func containerPath(namespace, pod, container string) string {
	return "/pods/" + url.PathEscape(namespace) + "/" + url.PathEscape(pod) + "/containers/" + url.PathEscape(container)
}

// Handler serves b. authorize is called first on every request; an error
// answers 403 (401 when it wraps ErrNoClientCert). A nil authorize admits
// everyone (tests).
func Handler(b Backend, authorize func(r *http.Request) error) http.Handler {
	h := &handler{b: b, log: slog.Default().With("component", "agent-endpoint")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pods/{namespace}/{pod}/containers/{container}/logs", h.logs)
	mux.HandleFunc("POST /pods/{namespace}/{pod}/containers/{container}/exec", h.exec)
	mux.HandleFunc("POST "+ImagesPath, h.importImages)
	mux.HandleFunc("GET "+ImagesPath, h.listImages)
	mux.HandleFunc("GET "+UsagePath, h.usage)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("the agent serves no %s %s", r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if authorize != nil {
			if err := authorize(r); err != nil {
				if errors.Is(err, ErrNoClientCert) {
					writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, err.Error())
				} else {
					writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, err.Error())
				}
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

type handler struct {
	b   Backend
	log *slog.Logger
}

func (h *handler) logs(w http.ResponseWriter, r *http.Request) {
	ns, pod, c := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, err := parseLogOptions(r.URL.Query())
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	out := newStreamWriter(w)
	defer out.claim() // the answer never starts by itself after we return
	var dst io.Writer = out
	var limit *limitWriter
	if opts.LimitBytes > 0 {
		limit = &limitWriter{w: out, left: opts.LimitBytes, reached: cancel}
		dst = limit
	}
	err = h.b.Logs(ctx, ns, pod, c, opts, dst)
	started := out.claim()
	switch {
	case limit != nil && limit.done:
	case err != nil && r.Context().Err() != nil:
		// The caller went away (the end of a follow).
	case err != nil && !started:
		writeBackendError(w, err, ns, pod, c)
	case err != nil:
		// Too late for a status: cut the connection so the client sees a
		// broken stream rather than a complete log.
		h.log.Warn("log stream failed", "pod", ns+"/"+pod, "container", c, "err", err)
		panic(http.ErrAbortHandler)
	case !started:
		w.WriteHeader(http.StatusOK)
	}
}

func parseLogOptions(q url.Values) (LogOptions, error) {
	opts := LogOptions{Tail: -1}
	var err error
	if opts.Follow, err = boolParam(q, "follow"); err != nil {
		return opts, err
	}
	if opts.Previous, err = boolParam(q, "previous"); err != nil {
		return opts, err
	}
	if opts.Timestamps, err = boolParam(q, "timestamps"); err != nil {
		return opts, err
	}
	if v := q.Get("tail"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return opts, fmt.Errorf("tail=%q: not an integer", v)
		}
		opts.Tail = max(n, -1)
	}
	if opts.SinceSeconds, err = nonNegative(q, "sinceSeconds"); err != nil {
		return opts, err
	}
	if opts.LimitBytes, err = nonNegative(q, "limitBytes"); err != nil {
		return opts, err
	}
	return opts, nil
}

func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: not a boolean", name, v)
	}
	return b, nil
}

func nonNegative(q url.Values, name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: must be a non-negative integer", name, v)
	}
	return n, nil
}

func (h *handler) exec(w http.ResponseWriter, r *http.Request) {
	ns, pod, c := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	q := r.URL.Query()
	cmd := q["command"]
	if len(cmd) == 0 || cmd[0] == "" {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "exec needs a command: one command= parameter per argument")
		return
	}
	withStdin, err := boolParam(q, "stdin")
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	var stdin io.Reader
	if withStdin {
		// HTTP/1 servers stop reading a request once the answer starts,
		// unless told otherwise: stdin and output flow together here.
		_ = http.NewResponseController(w).EnableFullDuplex()
		stdin = r.Body
	}
	w.Header().Set("Content-Type", ExecContentType)
	w.Header().Set("Cache-Control", "no-cache")
	out := newStreamWriter(w)
	defer out.claim() // the answer never starts by itself after we return
	// out flushes each frame.
	fw := NewFrameWriter(out, nil)
	code, err := h.b.Exec(r.Context(), ns, pod, c, cmd, stdin, fw.Stream(ChannelStdout), fw.Stream(ChannelStderr))
	started := out.claim()
	if err != nil {
		if !started {
			writeBackendError(w, err, ns, pod, c)
			return
		}
		_, _, msg := backendStatus(err, ns, pod, c)
		_ = fw.WriteError(errors.New(msg))
		return
	}
	_ = fw.WriteExit(code)
}

func (h *handler) importImages(w http.ResponseWriter, r *http.Request) {
	images, err := h.b.ImportImages(r.Context(), r.Body)
	if err != nil {
		code, reason := errorCode(err)
		writeStatus(w, code, reason, "importing images: "+err.Error())
		return
	}
	writeImages(w, images)
}

func (h *handler) listImages(w http.ResponseWriter, r *http.Request) {
	images, err := h.b.ListImages(r.Context())
	if err != nil {
		code, reason := errorCode(err)
		writeStatus(w, code, reason, "listing images: "+err.Error())
		return
	}
	writeImages(w, images)
}

func writeImages(w http.ResponseWriter, images []Image) {
	if images == nil {
		images = []Image{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(images)
}

// errorCode maps the Backend's sentinel errors to HTTP.
func errorCode(err error) (int, metav1.StatusReason) {
	switch {
	case errors.Is(err, ErrPodNotFound), errors.Is(err, ErrContainerNotFound):
		return http.StatusNotFound, metav1.StatusReasonNotFound
	case errors.Is(err, ErrNotRunning):
		return http.StatusConflict, metav1.StatusReasonConflict
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, metav1.StatusReasonBadRequest
	}
	return http.StatusInternalServerError, metav1.StatusReasonInternalError
}

// backendStatus describes a Backend's error about a container: its text,
// preceded by the pod and the container unless it names them already.
func backendStatus(err error, ns, pod, c string) (int, metav1.StatusReason, string) {
	code, reason := errorCode(err)
	msg := err.Error()
	if !errors.Is(err, ErrPodNotFound) && !strings.Contains(msg, strconv.Quote(c)) {
		msg = fmt.Sprintf("container %q: %s", c, msg)
	}
	if !strings.Contains(msg, ns+"/"+pod) {
		msg = fmt.Sprintf("pod %s/%s: %s", ns, pod, msg)
	}
	return code, reason, msg
}

func writeBackendError(w http.ResponseWriter, err error, ns, pod, c string) {
	code, reason, msg := backendStatus(err, ns, pod, c)
	writeStatus(w, code, reason, msg)
}

// writeStatus answers with a Kubernetes Status, which a master proxying
// the request passes through and the client decodes.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	h := w.Header()
	h.Del("Cache-Control")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
}

// quietStart is how long a stream may stay silent before its headers go
// out anyway. Until then a Backend's error can still be answered with a
// status; after it, a caller following a quiet log, or running a quiet
// command, knows the stream is open.
const quietStart = 200 * time.Millisecond

// streamWriter writes the answer of a stream, flushing after each write;
// it sends the headers by itself after quietStart.
type streamWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
	timer   *time.Timer
}

func newStreamWriter(w http.ResponseWriter) *streamWriter {
	s := &streamWriter{w: w, rc: http.NewResponseController(w)}
	s.timer = time.AfterFunc(quietStart, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.started {
			s.started = true
			s.w.WriteHeader(http.StatusOK)
			_ = s.flush()
		}
	})
	return s
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = true
	n, err := s.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, s.flush()
}

func (s *streamWriter) flush() error {
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// claim reports whether the answer has started, and keeps it from
// starting by itself from now on: the caller answers.
func (s *streamWriter) claim() bool {
	s.timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	started := s.started
	s.started = true
	return started
}

// errLimitReached ends a log stream at limitBytes.
var errLimitReached = errors.New("limitBytes reached")

type limitWriter struct {
	w       io.Writer
	left    int64
	done    bool
	reached func()
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.done {
		return 0, errLimitReached
	}
	if int64(len(p)) < l.left {
		n, err := l.w.Write(p)
		l.left -= int64(n)
		return n, err
	}
	n, err := l.w.Write(p[:l.left])
	l.left -= int64(n)
	if err != nil {
		return n, err
	}
	l.done = true
	l.reached()
	return n, errLimitReached
}

// usage answers the node's latest usage report; 503 until there is one.
func (h *handler) usage(w http.ResponseWriter, _ *http.Request) {
	rep := h.b.Usage()
	if rep == nil {
		writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "no usage measured yet")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}
