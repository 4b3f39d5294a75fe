package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/skiffhq/skiff/apis/auth"
	"github.com/skiffhq/skiff/apis/skiffv1"
)

// Paths of the cluster endpoints.
const (
	MembersPath   = "/cluster/v1/members"
	SnapshotPath  = "/cluster/v1/snapshot"
	CAPath        = "/cluster/v1/ca"
	JoinPath      = "/cluster/v1/join"
	AddMasterPath = "/cluster/v1/masters"
	RenewPath     = "/cluster/v1/renew"
	TokensPath    = "/cluster/v1/tokens"
	UsersPath     = "/cluster/v1/users"
	RotateKeyPath = "/cluster/v1/secrets/rotate-key"
	RotateCAPath  = "/cluster/v1/ca/rotate"
)

// Cluster is what the cluster endpoints need from the masters. The daemon
// implements it over the Raft node and the PKI.
type Cluster interface {
	// Members returns every master with its live status.
	Members(ctx context.Context) ([]skiffv1.MemberStatus, error)
	// RemoveMember takes a master out of the cluster.
	RemoveMember(ctx context.Context, id string) error
	// Snapshot writes a consistent snapshot of the whole state to w.
	Snapshot(ctx context.Context, w io.Writer) error
	// CABundle returns the CA certificates to trust (PEM).
	CABundle(ctx context.Context) ([]byte, error)
	// Join admits a host presenting a join token and a CSR.
	Join(ctx context.Context, req *skiffv1.JoinRequest) (*skiffv1.JoinResponse, error)
	// AddMaster makes the calling master (server certificate) a voter.
	AddMaster(ctx context.Context, caller auth.User, req *skiffv1.AddMasterRequest) (*skiffv1.AddMasterResponse, error)
	// Renew certifies a new key for the caller's own identity.
	Renew(ctx context.Context, caller auth.User, req *skiffv1.RenewRequest) (*skiffv1.RenewResponse, error)
	// CreateToken makes a join token.
	CreateToken(ctx context.Context, req *skiffv1.TokenRequest) (*skiffv1.TokenResponse, error)
	// CreateUser records a user and certifies its key.
	CreateUser(ctx context.Context, req *skiffv1.UserRequest) (*skiffv1.UserResponse, error)
	// RotateSecretsKey makes a new secrets key and re-encrypts every secret.
	RotateSecretsKey(ctx context.Context) (*skiffv1.RotateKeyResponse, error)
	// RotateCA replaces the root CA, cross-signed so both stay trusted.
	RotateCA(ctx context.Context) (*skiffv1.RotateCAResponse, error)
}

// decodeStrict reads a JSON body into v, refusing unknown fields.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body is not a %T: %v", v, err)
	}
	return nil
}

// handle serves a JSON-in, JSON-out cluster endpoint.
func handle[Req, Resp any](fn func(ctx context.Context, caller auth.User, req *Req) (*Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := new(Req)
		if r.Method != http.MethodGet && r.Method != http.MethodDelete {
			if err := decodeStrict(w, r, req); err != nil {
				writeError(w, err)
				return
			}
		}
		caller, _ := UserFrom(r.Context())
		resp, err := fn(r.Context(), caller, req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

func (s *Server) mountCluster() {
	c := s.cfg.Cluster
	s.mux.HandleFunc("GET "+MembersPath, handle(func(ctx context.Context, _ auth.User, _ *struct{}) (*skiffv1.MemberStatusList, error) {
		members, err := c.Members(ctx)
		return &skiffv1.MemberStatusList{Members: members}, err
	}))
	s.mux.HandleFunc("DELETE "+MembersPath+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := c.RemoveMember(r.Context(), r.PathValue("id")); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"removed": r.PathValue("id")})
	})
	s.mux.HandleFunc("GET "+SnapshotPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		// Errors after the first byte can only cut the stream short; the
		// snapshot's trailer checksum lets the client notice.
		lw := &lazyHeader{w: w}
		if err := c.Snapshot(r.Context(), lw); err != nil && !lw.written {
			writeError(w, err)
		}
	})
	s.mux.HandleFunc("GET "+CAPath, func(w http.ResponseWriter, r *http.Request) {
		bundle, err := c.CABundle(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(bundle)
	})
	s.mux.HandleFunc("POST "+JoinPath, handle(func(ctx context.Context, _ auth.User, req *skiffv1.JoinRequest) (*skiffv1.JoinResponse, error) {
		return c.Join(ctx, req)
	}))
	s.mux.HandleFunc("POST "+AddMasterPath, handle(c.AddMaster))
	s.mux.HandleFunc("POST "+RenewPath, handle(c.Renew))
	s.mux.HandleFunc("POST "+TokensPath, handle(func(ctx context.Context, _ auth.User, req *skiffv1.TokenRequest) (*skiffv1.TokenResponse, error) {
		return c.CreateToken(ctx, req)
	}))
	s.mux.HandleFunc("POST "+UsersPath, handle(func(ctx context.Context, _ auth.User, req *skiffv1.UserRequest) (*skiffv1.UserResponse, error) {
		return c.CreateUser(ctx, req)
	}))
	s.mux.HandleFunc("POST "+RotateCAPath, handle(func(ctx context.Context, _ auth.User, _ *struct{}) (*skiffv1.RotateCAResponse, error) {
		return c.RotateCA(ctx)
	}))
	s.mux.HandleFunc("POST "+RotateKeyPath, handle(func(ctx context.Context, _ auth.User, _ *struct{}) (*skiffv1.RotateKeyResponse, error) {
		return c.RotateSecretsKey(ctx)
	}))
}

// lazyHeader passes writes through; it exists so that an error before the
// first byte can still be answered with a Status.
type lazyHeader struct {
	w       http.ResponseWriter
	written bool
}

func (l *lazyHeader) Write(p []byte) (int, error) {
	l.written = true
	return l.w.Write(p)
}
