package raftfsm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/hashicorp/raft"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/skiffv1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Paths of the master-to-master endpoints, served on the API port. The
// security layer admits only server certificates to them.
const (
	PeerApplyPath     = "/internal/v1/apply"
	PeerReadIndexPath = "/internal/v1/readindex"
	PeerStatusPath    = "/internal/v1/status"
)

// maxCommandBytes bounds a forwarded command (objects are at most 3 MiB).
const maxCommandBytes = 8 << 20

// statusNotLeader answers a forwarded request that reached a master which
// no longer leads; the sender retries with the new leader.
const statusNotLeader = http.StatusMisdirectedRequest

type wireObject struct {
	Kind   string          `json:"kind"`
	Object json.RawMessage `json:"object"`
}

type wireResult struct {
	Index   uint64       `json:"index"`
	Objects []wireObject `json:"objects"`
}

type wireIndex struct {
	Index uint64 `json:"index"`
}

// PeerHandler serves the master-to-master endpoints of n.
func PeerHandler(n *Node) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PeerApplyPath, func(w http.ResponseWriter, r *http.Request) {
		if !n.IsLeader() {
			http.Error(w, "not the leader", statusNotLeader)
			return
		}
		cmd, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCommandBytes))
		if err != nil {
			writePeerError(w, apierrors.NewRequestEntityTooLargeError(err.Error()))
			return
		}
		res, err := n.Apply(r.Context(), cmd)
		if err != nil {
			writePeerError(w, err)
			return
		}
		out := wireResult{Index: res.Index}
		for _, rec := range res.Records {
			out.Objects = append(out.Objects, wireObject{Kind: rec.kind, Object: rec.JSON()})
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("POST "+PeerReadIndexPath, func(w http.ResponseWriter, r *http.Request) {
		if !n.IsLeader() {
			http.Error(w, "not the leader", statusNotLeader)
			return
		}
		index, err := n.LeaderReadIndex(r.Context())
		if err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				http.Error(w, err.Error(), statusNotLeader)
				return
			}
			writePeerError(w, err)
			return
		}
		writeJSON(w, wireIndex{Index: index})
	})
	mux.HandleFunc("GET "+PeerStatusPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, n.LocalStatus())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writePeerError(w http.ResponseWriter, err error) {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		se = apierrors.NewInternalError(err)
	}
	st := se.Status()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(st)
}

// HTTPPeers implements Peers over the masters' API ports.
type HTTPPeers struct {
	Client   *http.Client
	Scheme   string // "https" (or "http" when security is off for benchmarks)
	Registry *resources.Registry
}

func (p *HTTPPeers) url(addr, path string) string {
	return (&url.URL{Scheme: p.Scheme, Host: addr, Path: path}).String()
}

func (p *HTTPPeers) do(ctx context.Context, method, addr, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, p.url(addr, path), bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		if isDialError(err) {
			return &UnreachableError{Addr: addr, Err: err}
		}
		return fmt.Errorf("master %s: %w", addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCommandBytes))
	if err != nil {
		return fmt.Errorf("master %s: %w", addr, err)
	}
	if resp.StatusCode == statusNotLeader {
		return &UnreachableError{Addr: addr, Err: raft.ErrNotLeader}
	}
	if resp.StatusCode >= 300 {
		var st metav1.Status
		if json.Unmarshal(data, &st) == nil && st.Code != 0 {
			return &apierrors.StatusError{ErrStatus: st}
		}
		return fmt.Errorf("master %s: %s: %s", addr, resp.Status, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, out)
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Apply implements Peers.
func (p *HTTPPeers) Apply(ctx context.Context, addr string, cmd []byte) (*Result, error) {
	var out wireResult
	if err := p.do(ctx, http.MethodPost, addr, PeerApplyPath, cmd, &out); err != nil {
		return nil, err
	}
	res := &Result{Index: out.Index}
	for _, wo := range out.Objects {
		r, ok := p.Registry.ByKind(wo.Kind)
		if !ok {
			return nil, fmt.Errorf("leader returned unknown kind %q", wo.Kind)
		}
		obj := r.New()
		if err := json.Unmarshal(wo.Object, obj); err != nil {
			return nil, err
		}
		obj.GetObjectKind().SetGroupVersionKind(r.GVK())
		res.Records = append(res.Records, newRecord(wo.Kind, obj))
	}
	return res, nil
}

// ReadIndex implements Peers.
func (p *HTTPPeers) ReadIndex(ctx context.Context, addr string) (uint64, error) {
	var out wireIndex
	err := p.do(ctx, http.MethodPost, addr, PeerReadIndexPath, nil, &out)
	return out.Index, err
}

// Status implements Peers.
func (p *HTTPPeers) Status(ctx context.Context, addr string) (*skiffv1.MemberStatus, error) {
	var out skiffv1.MemberStatus
	if err := p.do(ctx, http.MethodGet, addr, PeerStatusPath, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
