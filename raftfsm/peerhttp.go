package raftfsm

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/hashicorp/raft"
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

type wireIndex struct {
	Index uint64 `json:"index"`
}

type wireOutcome struct {
	Index uint64         `json:"index,omitempty"`
	Error *metav1.Status `json:"error,omitempty"`
}

type wireBatch struct {
	Results []wireOutcome `json:"results"`
}

// maxBatchBytes bounds a forwarded batch.
const maxBatchBytes = 64 << 20

// joinBatch frames commands: each as a uvarint length, then its bytes.
func joinBatch(cmds [][]byte) []byte {
	size := 0
	for _, c := range cmds {
		size += binary.MaxVarintLen64 + len(c)
	}
	out := make([]byte, 0, size)
	for _, c := range cmds {
		out = binary.AppendUvarint(out, uint64(len(c)))
		out = append(out, c...)
	}
	return out
}

func splitBatch(body []byte) ([][]byte, error) {
	var cmds [][]byte
	for len(body) > 0 {
		n, w := binary.Uvarint(body)
		if w <= 0 || uint64(len(body)-w) < n || n > maxCommandBytes {
			return nil, errBadFrame
		}
		cmds = append(cmds, body[w:w+int(n)])
		body = body[w+int(n):]
	}
	if len(cmds) == 0 {
		return nil, errors.New("empty batch")
	}
	return cmds, nil
}

// PeerHandler serves the master-to-master endpoints of n.
func PeerHandler(n *Node) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PeerApplyPath, func(w http.ResponseWriter, r *http.Request) {
		if !n.IsLeader() {
			http.Error(w, "not the leader", statusNotLeader)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBatchBytes))
		if err != nil {
			writePeerError(w, apierrors.NewRequestEntityTooLargeError(err.Error()))
			return
		}
		cmds, err := splitBatch(body)
		if err != nil {
			writePeerError(w, apierrors.NewBadRequest(err.Error()))
			return
		}
		// Enqueue every command before waiting for any, so that Raft
		// writes them as one batch.
		futures := n.group.apply(cmds...)
		out := wireBatch{Results: make([]wireOutcome, len(cmds))}
		notLeader := 0
		for i, f := range futures {
			res, err := n.leaderOutcome(f)
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrEnqueueTimeout) {
				// Not applied: the sender may send it again.
				notLeader++
				out.Results[i].Error = &metav1.Status{Code: statusNotLeader, Message: err.Error()}
				continue
			}
			if err != nil {
				st := statusOfErr(err)
				out.Results[i].Error = &st
				continue
			}
			out.Results[i].Index = res.Index
		}
		if notLeader == len(cmds) {
			http.Error(w, "not the leader", statusNotLeader)
			return
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

func statusOfErr(err error) metav1.Status {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		se = apierrors.NewInternalError(err)
	}
	return se.Status()
}

func writePeerError(w http.ResponseWriter, err error) {
	st := statusOfErr(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(st)
}

// HTTPPeers implements Peers over the masters' API ports.
type HTTPPeers struct {
	Client *http.Client
	Scheme string // "https" (or "http" when security is off for benchmarks)
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

// ApplyBatch implements Peers.
func (p *HTTPPeers) ApplyBatch(ctx context.Context, addr string, cmds [][]byte) ([]Outcome, error) {
	var out wireBatch
	if err := p.do(ctx, http.MethodPost, addr, PeerApplyPath, joinBatch(cmds), &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(cmds) {
		return nil, fmt.Errorf("master %s answered %d results for %d commands", addr, len(out.Results), len(cmds))
	}
	outcomes := make([]Outcome, len(cmds))
	for i, r := range out.Results {
		outcomes[i].Index = r.Index
		if r.Error != nil {
			if r.Error.Code == statusNotLeader {
				outcomes[i].Err = raft.ErrNotLeader
			} else {
				outcomes[i].Err = &apierrors.StatusError{ErrStatus: *r.Error}
			}
		}
	}
	return outcomes, nil
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
