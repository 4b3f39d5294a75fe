package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/skiffhq/skiff/apis/pki"
	"github.com/skiffhq/skiff/apis/skiffv1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// caSyncPath lets masters hand a rotated CA to each other.
const caSyncPath = "/internal/v1/ca"

// RotateCA runs on the leader: a new root, cross-signed by the old one,
// pushed to every master, which re-issues its own certificate from it.
// Both roots stay trusted, so nothing loses its connection; join tokens
// pinning the old root stop working, as in Swarm.
func (c *clusterOps) RotateCA(ctx context.Context) (*skiffv1.RotateCAResponse, error) {
	lc, err := c.leaderClient()
	if err != nil {
		return nil, err
	}
	if lc != nil {
		return lc.RotateCA(ctx)
	}
	next, err := c.pki.CA().Rotate(time.Now())
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.KeyPEM(next.Key)
	if err != nil {
		return nil, err
	}
	if _, err := c.pki.adopt(c.node.ID(), next.Bundle, keyPEM, next.Chain); err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("adopting the new CA: %w", err))
	}
	wire, _ := c.pki.wire()
	raw, _ := json.Marshal(wire)
	n := 1
	for _, o := range c.node.FSM().View().List("Member", "") {
		m := o.(*skiffv1.Member)
		if m.Name == c.node.ID() {
			continue
		}
		if _, err := c.peerCall(ctx, http.MethodPost, m.Spec.APIAddress, caSyncPath, raw); err == nil {
			n++
		}
	}
	return &skiffv1.RotateCAResponse{Digest: pki.Digest(next.Cert), Masters: n}, nil
}

// caHandler serves this master's CA to other masters (GET) and takes a
// rotated one from the leader (POST).
func (m *masterProc) caHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+caSyncPath, func(w http.ResponseWriter, r *http.Request) {
		wire, err := m.pki.wire()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(wire)
	})
	mux.HandleFunc("POST "+caSyncPath, func(w http.ResponseWriter, r *http.Request) {
		var wire wireCA
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&wire); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := m.pki.adopt(m.id, wire.Bundle, wire.Key, wire.Chain); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		m.log.Info("adopted a rotated cluster CA", "digest", pki.Digest(m.pki.CA().Cert))
		w.Write([]byte("{}"))
	})
	return mux
}

// caSyncLoop lets a master that missed a rotation (it was down) take the
// leader's CA: it checks at start and every minute.
func (m *masterProc) caSyncLoop(ctx context.Context) {
	for {
		if !m.node.IsLeader() {
			if err := m.syncCA(ctx); err != nil {
				m.log.Debug("checking the leader's CA", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
		}
	}
}

func (m *masterProc) syncCA(ctx context.Context) error {
	raw, err := m.ops.leaderCall(ctx, http.MethodGet, caSyncPath, nil)
	if err != nil {
		return err
	}
	var wire wireCA
	if err := json.Unmarshal(raw, &wire); err != nil {
		return err
	}
	changed, err := m.pki.adopt(m.id, wire.Bundle, wire.Key, wire.Chain)
	if changed {
		m.log.Info("took the leader's rotated cluster CA")
	}
	return err
}
