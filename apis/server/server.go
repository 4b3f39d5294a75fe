package server

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/skiffhq/skiff/apis/auth"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/skiffv1"
	"github.com/skiffhq/skiff/apis/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// MaxBodyBytes bounds a request body: Kubernetes' limit for one object.
const MaxBodyBytes = 3 << 20

// Config configures the API server.
type Config struct {
	Store    storage.Store
	Registry *resources.Registry
	// Cluster serves /cluster/v1/...; nil leaves those endpoints out.
	Cluster Cluster
	// Ready reports whether this master can serve (for /readyz).
	Ready   func(ctx context.Context) error
	Version skiffv1.VersionInfo
	// Authenticate returns a request's caller; nil turns authentication
	// off (unit tests, the benchmark's insecure mode).
	Authenticate func(r *http.Request) (auth.User, error)
	// Authorizer decides what callers may do; nil allows everything.
	Authorizer *auth.Authorizer
	// Audit receives every mutating request; nil drops them.
	Audit  func(AuditEntry)
	Logger *slog.Logger
	// Now and NewUID are replaceable for tests.
	Now    func() time.Time
	NewUID func() string
	// AgentTransport carries this master's calls to the nodes' agents
	// (pod logs and exec, images): the daemon gives one that presents the
	// master's client certificate (role server) and trusts the cluster CA.
	// Nil uses http.DefaultTransport.
	AgentTransport http.RoundTripper
	// AgentScheme is the agents' URL scheme: "https" (the default), or
	// "http" in tests.
	AgentScheme string
	// UploadDir holds an image archive while it is sent to several nodes
	// (up to MaxImageArchiveBytes): better on the data disk than in a
	// tmpfs. "" = os.TempDir().
	UploadDir string
	// Metrics serves metrics.k8s.io reads; nil answers them with 503.
	Metrics MetricsReader
	// Services are the ranges of Services' cluster IPs and node ports;
	// zero means DefaultServiceRanges.
	Services ServiceRanges
	// NodeWritesInFlight bounds the nodes' writes served at once (see
	// nodewrites.go); zero means DefaultNodeWritesInFlight, negative no
	// bound.
	NodeWritesInFlight int
}

// Server is the HTTP API.
type Server struct {
	cfg   Config
	store storage.Store
	reg   *resources.Registry
	log   *slog.Logger
	mux   *http.ServeMux
	// nodeWrites holds a token per node write being served; nil: no bound.
	nodeWrites chan struct{}
}

// New returns an API server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewUID == nil {
		cfg.NewUID = uuid.NewString
	}
	if cfg.Registry == nil {
		cfg.Registry = resources.Default()
	}
	if !cfg.Services.ClusterIPs.IsValid() {
		cfg.Services = DefaultServiceRanges()
	}
	if cfg.NodeWritesInFlight == 0 {
		cfg.NodeWritesInFlight = DefaultNodeWritesInFlight
	}
	s := &Server{cfg: cfg, store: cfg.Store, reg: cfg.Registry, log: cfg.Logger.With("component", "api")}
	if cfg.NodeWritesInFlight > 0 {
		s.nodeWrites = make(chan struct{}, cfg.NodeWritesInFlight)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /livez", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /version", s.version)
	s.mux.HandleFunc("GET /api", s.coreVersions)
	s.mux.HandleFunc("GET /apis", s.groupList)
	if cfg.Cluster != nil {
		s.mountCluster()
	}
	s.mountImages()
	s.mountPods()
	s.mux.HandleFunc("/api/", s.serveResource)
	s.mux.HandleFunc("/apis/", s.serveResource)
	return s
}

// ServeHTTP implements http.Handler. A panic is a bug: it is logged with its
// stack and answered with a 500 instead of killing the master.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			writeError(w, apierrors.NewInternalError(errPanic))
		}
	}()
	if publicPath(r) {
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	r, ok := s.authenticate(rec, r)
	// Deferred so that a request whose stream was cut (a proxied exec
	// aborts with http.ErrAbortHandler) is audited all the same.
	served := false
	defer func() {
		code := rec.code
		if code == 0 && !served {
			code = http.StatusInternalServerError // a panic before any answer
		}
		s.audit(r, code)
	}()
	if ok {
		if release, admitted := s.admitNodeWrite(rec, r); admitted {
			defer release()
			s.mux.ServeHTTP(rec, r)
		}
	}
	served = true
}

var errPanic = &panicError{}

type panicError struct{}

func (*panicError) Error() string { return "the server hit a bug serving this request; it is logged" }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "not ready: "+err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok")
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cfg.Version)
}

// generateNameSuffix returns the 5 random characters Kubernetes appends to
// metadata.generateName (no vowels, so no words).
func generateNameSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	var b [5]byte
	_, _ = rand.Read(b[:])
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String()
}
