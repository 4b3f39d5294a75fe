package server

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/skiffhq/skiff/apis/skiffv1"
)

// Paths of the cluster endpoints.
const (
	MembersPath  = "/cluster/v1/members"
	SnapshotPath = "/cluster/v1/snapshot"
	JoinPath     = "/cluster/v1/join"
)

func (s *Server) mountCluster() {
	c := s.cfg.Cluster
	s.mux.HandleFunc("GET "+MembersPath, func(w http.ResponseWriter, r *http.Request) {
		members, err := c.Members(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, skiffv1.MemberStatusList{Members: members})
	})
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
	s.mux.HandleFunc("POST "+JoinPath, func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		var req skiffv1.JoinRequest
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, badRequest("the body is not a join request: %v", err))
			return
		}
		resp, err := c.Join(r.Context(), &req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	})
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
