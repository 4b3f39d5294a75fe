package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// MetricsGroup is the API group of the usage metrics, which are served from
// the leader's memory (Config.Metrics), never from the store.
const MetricsGroup = "metrics.k8s.io"

// MetricsReader serves reads of PodMetrics and NodeMetrics.
type MetricsReader interface {
	Get(ctx context.Context, res *resources.Resource, namespace, name string) (storage.Record, error)
	List(ctx context.Context, res *resources.Resource, sel storage.Selection) ([]storage.Record, error)
}

// serveMetrics answers requests for metrics.k8s.io: get and list, as the
// Kubernetes metrics API does; they are collected from the nodes, not
// written by clients.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, t *target) {
	gr := schema.GroupResource{Group: t.res.Group, Resource: t.res.Plural}
	switch {
	case r.Method != http.MethodGet || t.subresource != "":
		writeError(w, apierrors.NewMethodNotSupported(gr, fmt.Sprintf("%s (metrics are collected from the nodes by the leader; clients only read them)", r.Method)))
		return
	case isTrue(r.URL.Query().Get("watch")):
		writeError(w, apierrors.NewMethodNotSupported(gr, "watch"))
		return
	case s.cfg.Metrics == nil:
		writeError(w, apierrors.NewServiceUnavailable("this master serves no metrics"))
		return
	}
	if t.name != "" {
		rec, err := s.cfg.Metrics.Get(r.Context(), t.res, t.namespace, t.name)
		if err != nil {
			writeError(w, err)
			return
		}
		writeRaw(w, http.StatusOK, rec.JSON())
		return
	}
	sel, err := s.selection(r, t)
	if err != nil {
		writeError(w, err)
		return
	}
	items, err := s.cfg.Metrics.List(r.Context(), t.res, sel)
	if err != nil {
		writeError(w, err)
		return
	}
	writeList(w, t, &storage.ListResult{Items: items})
}
