// Package metricsstore holds the cluster's usage metrics (metrics.k8s.io
// PodMetrics and NodeMetrics) in memory, as Kubernetes' metrics-server
// does: the leader scrapes every node's latest report and keeps it here.
// Metrics are not written to the Raft log — 10,000 pods reporting every
// 15 s would be 700 writes a second, forever — and a new leader has them
// again after one scrape.
package metricsstore

import (
	"context"
	"encoding/json"
	"sort"
	"sync"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// Report is what one node's agent reports: its own usage and its running
// pods'. The agent serves it; the leader scrapes it.
type Report struct {
	Node *metricsv1beta1.NodeMetrics  `json:"node,omitempty"`
	Pods []*metricsv1beta1.PodMetrics `json:"pods,omitempty"`
}

// Store is the in-memory metrics of the cluster, by node.
type Store struct {
	mu    sync.RWMutex
	nodes map[string]nodeEntry
}

type nodeEntry struct {
	node *record
	pods map[string]*record // namespace/name
}

// New returns an empty store.
func New() *Store { return &Store{nodes: map[string]nodeEntry{}} }

// Put replaces everything known of node with its latest report.
func (s *Store) Put(node string, r *Report) {
	e := nodeEntry{pods: make(map[string]*record, len(r.Pods))}
	if r.Node != nil {
		r.Node.SetGroupVersionKind(metricsv1beta1.SchemeGroupVersion.WithKind("NodeMetrics"))
		e.node = newRecord("NodeMetrics", r.Node)
	}
	for _, p := range r.Pods {
		p.SetGroupVersionKind(metricsv1beta1.SchemeGroupVersion.WithKind("PodMetrics"))
		e.pods[p.Namespace+"/"+p.Name] = newRecord("PodMetrics", p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[node] = e
}

// Retain forgets the nodes for which keep is false (gone, or not ready).
func (s *Store) Retain(keep func(node string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := range s.nodes {
		if !keep(n) {
			delete(s.nodes, n)
		}
	}
}

// Get returns the metrics of one pod or node; NotFound when none.
func (s *Store) Get(_ context.Context, res *resources.Resource, namespace, name string) (storage.Record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch res.Kind {
	case "NodeMetrics":
		if e, ok := s.nodes[name]; ok && e.node != nil {
			return e.node, nil
		}
	case "PodMetrics":
		for _, e := range s.nodes {
			if r, ok := e.pods[namespace+"/"+name]; ok {
				return r, nil
			}
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: res.Group, Resource: res.Plural}, name)
}

// List returns the metrics that match sel, sorted by namespace and name.
func (s *Store) List(_ context.Context, res *resources.Resource, sel storage.Selection) []storage.Record {
	s.mu.RLock()
	var out []*record
	for _, e := range s.nodes {
		switch res.Kind {
		case "NodeMetrics":
			if e.node != nil {
				out = append(out, e.node)
			}
		case "PodMetrics":
			for _, r := range e.pods {
				out = append(out, r)
			}
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].obj, out[j].obj
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
	recs := make([]storage.Record, 0, len(out))
	for _, r := range out {
		if matches(res, sel, r.obj) {
			recs = append(recs, r)
		}
	}
	return recs
}

func matches(res *resources.Resource, sel storage.Selection, obj apis.Object) bool {
	if sel.Namespace != "" && obj.GetNamespace() != sel.Namespace {
		return false
	}
	if sel.Labels != nil && !sel.Labels.Empty() && !sel.Labels.Matches(labels.Set(obj.GetLabels())) {
		return false
	}
	if sel.Fields != nil && !sel.Fields.Empty() && !sel.Fields.Matches(fields.Set(res.SelectableFields(obj))) {
		return false
	}
	return true
}

// record is a stored metrics object and its JSON, encoded once.
type record struct {
	kind string
	obj  apis.Object
	once sync.Once
	raw  []byte
}

func newRecord(kind string, obj apis.Object) *record { return &record{kind: kind, obj: obj} }

// NewRecord wraps a metrics object as a storage.Record (a follower's copy
// of what the leader answered).
func NewRecord(kind string, obj apis.Object) storage.Record { return newRecord(kind, obj) }

func (r *record) Object() apis.Object { return r.obj }
func (r *record) Kind() string        { return r.kind }
func (r *record) JSON() []byte {
	r.once.Do(func() { r.raw, _ = json.Marshal(r.obj) })
	return r.raw
}
