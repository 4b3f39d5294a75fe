package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/skiffhq/skiff/apis/auth"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// AuditEntry records one mutating request.
type AuditEntry struct {
	Time      time.Time `json:"time"`
	User      string    `json:"user"`
	Role      string    `json:"role"`
	Verb      string    `json:"verb"`
	Path      string    `json:"path"`
	Code      int       `json:"code"`
	RemoteIP  string    `json:"remoteIP"`
	UserAgent string    `json:"userAgent,omitempty"`
}

type userKey struct{}

// UserFrom returns the caller of a request being served.
func UserFrom(ctx context.Context) (auth.User, bool) {
	u, ok := ctx.Value(userKey{}).(auth.User)
	return u, ok
}

// anonymousAdmin is the caller when authentication is off (unit tests and
// the benchmark's insecure mode).
var anonymousAdmin = auth.User{Name: "anonymous", Role: auth.RoleAdmin}

// publicPath: endpoints anyone may call, so that health checks work and a
// joining host can fetch the CA and present its token.
func publicPath(r *http.Request) bool {
	switch r.URL.Path {
	case "/healthz", "/livez", "/readyz", "/version", CAPath:
		return r.Method == http.MethodGet
	case JoinPath:
		return r.Method == http.MethodPost
	}
	return false
}

func verbOf(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return strings.ToLower(r.Method)
}

// statusRecorder remembers the status code for the audit log.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer (full
// duplex for exec).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// authenticate finds the caller, answering 401 when there is none; it
// authorizes requests that are not about resources (those are authorized
// once their path is parsed).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	user := anonymousAdmin
	if s.cfg.Authenticate != nil {
		u, err := s.cfg.Authenticate(r)
		if err != nil {
			writeError(w, apierrors.NewUnauthorized(err.Error()))
			return r, false
		}
		user = u
	}
	r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
	if !strings.HasPrefix(r.URL.Path, "/api/") && !strings.HasPrefix(r.URL.Path, "/apis/") {
		if err := s.authorize(r, auth.Attributes{Verb: verbOf(r), Path: r.URL.Path}); err != nil {
			writeError(w, err)
			return r, false
		}
	}
	return r, true
}

func (s *Server) authorize(r *http.Request, a auth.Attributes) error {
	if s.cfg.Authorizer == nil {
		return nil
	}
	user, _ := UserFrom(r.Context())
	if err := s.cfg.Authorizer.Authorize(user, a); err != nil {
		var fe *auth.ForbiddenError
		if errors.As(err, &fe) {
			return apierrors.NewForbidden(groupResourceOf(a), a.Name, errors.New(fe.Reason+" ("+user.String()+")"))
		}
		return apierrors.NewForbidden(groupResourceOf(a), a.Name, err)
	}
	return nil
}

func (s *Server) authorizeResource(r *http.Request, t *target, name string) error {
	verb := verbOf(r)
	if verb == "get" && t.name == "" {
		verb = "list"
		if isTrue(r.URL.Query().Get("watch")) {
			verb = "watch"
		}
	}
	return s.authorize(r, auth.Attributes{
		Verb: verb, Group: t.res.Group, Resource: t.res.Plural, Subresource: t.subresource,
		Namespace: t.namespace, Name: name, Internal: t.res.Internal, Namespaced: t.res.Namespaced,
	})
}

func (s *Server) audit(r *http.Request, code int) {
	if s.cfg.Audit == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return
	}
	user, _ := UserFrom(r.Context())
	ip := r.RemoteAddr
	if i := strings.LastIndexByte(ip, ':'); i > 0 {
		ip = ip[:i]
	}
	s.cfg.Audit(AuditEntry{Time: s.cfg.Now().UTC(), User: user.Name, Role: user.Role, Verb: verbOf(r),
		Path: r.URL.Path, Code: code, RemoteIP: ip, UserAgent: r.UserAgent()})
}
