package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/skiffhq/skiff/agent/endpoint"
	"github.com/skiffhq/skiff/apis/metricsstore"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// The usage metrics pipeline: every agent measures its node and pods and
// keeps the latest report; the leader scrapes the Ready nodes' reports
// into its memory (metricsstore) every MetricsPeriod; any master serves
// metrics.k8s.io from the leader's copy (a follower asks the leader).

// metricsPath is the internal endpoint a follower reads the leader's
// metrics from.
const metricsPath = "/internal/v1/metrics"

// scrapeParallelism bounds the agents scraped at once.
const scrapeParallelism = 32

// scrapeMetrics runs on the leader until ctx ends.
func (m *masterProc) scrapeMetrics(ctx context.Context) {
	hc := &http.Client{Transport: m.agentTransport, Timeout: 5 * time.Second}
	for {
		m.scrapeOnce(ctx, hc)
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.cfg.MetricsPeriod):
		}
	}
}

// scrapeOnce reads every Ready node's report; the metrics of nodes that
// are gone or not Ready are dropped (their pods' usage is unknown).
func (m *masterProc) scrapeOnce(ctx context.Context, hc *http.Client) {
	nodes := fsmNodes{m}.List()
	ready := make(map[string]bool, len(nodes))
	slots := make(chan struct{}, scrapeParallelism)
	var wg sync.WaitGroup
	for _, n := range nodes {
		if !nodeIsReady(n) {
			continue
		}
		ready[n.Name] = true
		addr, err := server.AgentAddress(n)
		if err != nil {
			continue
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			rep, err := m.scrapeNode(ctx, hc, addr)
			if err != nil {
				m.log.Debug("scraping a node's usage", "node", n.Name, "err", err)
				return
			}
			m.metrics.Put(n.Name, rep)
		}()
	}
	wg.Wait()
	m.metrics.Retain(func(node string) bool { return ready[node] })
}

func (m *masterProc) scrapeNode(ctx context.Context, hc *http.Client, addr string) (*metricsstore.Report, error) {
	u := url.URL{Scheme: m.agentScheme(), Host: addr, Path: endpoint.UsagePath}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s", resp.Status, msg)
	}
	var rep metricsstore.Report
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

func (m *masterProc) agentScheme() string {
	if m.cfg.Insecure {
		return "http"
	}
	return "https"
}

func nodeIsReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// metricsReader is the API's server.MetricsReader: the leader's memory,
// read directly on the leader and through metricsPath elsewhere.
type metricsReader struct{ m *masterProc }

var _ server.MetricsReader = metricsReader{}

func (r metricsReader) Get(ctx context.Context, res *resources.Resource, namespace, name string) (storage.Record, error) {
	if r.m.node.IsLeader() {
		return r.m.metrics.Get(ctx, res, namespace, name)
	}
	items, err := r.fromLeader(ctx, res, url.Values{"namespace": {namespace}, "name": {name}})
	if err != nil {
		return nil, err
	}
	return items[0], nil
}

func (r metricsReader) List(ctx context.Context, res *resources.Resource, sel storage.Selection) ([]storage.Record, error) {
	if r.m.node.IsLeader() {
		return r.m.metrics.List(ctx, res, sel), nil
	}
	q := url.Values{"namespace": {sel.Namespace}}
	if sel.Labels != nil {
		q.Set("labelSelector", sel.Labels.String())
	}
	if sel.Fields != nil {
		q.Set("fieldSelector", sel.Fields.String())
	}
	return r.fromLeader(ctx, res, q)
}

// fromLeader asks the leader for the metrics q names.
func (r metricsReader) fromLeader(ctx context.Context, res *resources.Resource, q url.Values) ([]storage.Record, error) {
	addr, err := r.m.node.LeaderAPI()
	if err != nil {
		return nil, apierrors.NewServiceUnavailable("metrics are kept by the leader, and there is none now: " + err.Error())
	}
	q.Set("kind", res.Kind)
	u := url.URL{Scheme: r.m.scheme, Host: addr, Path: metricsPath, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.m.peerHTTP.Do(req)
	if err != nil {
		return nil, apierrors.NewServiceUnavailable("reading metrics from the leader: " + err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, apierrors.NewServiceUnavailable("reading metrics from the leader: " + err.Error())
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: res.Group, Resource: res.Plural}, q.Get("name"))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("reading metrics from the leader: %s", resp.Status))
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, err
	}
	out := make([]storage.Record, 0, len(raws))
	for _, raw := range raws {
		obj := res.New()
		if err := json.Unmarshal(raw, obj); err != nil {
			return nil, err
		}
		out = append(out, metricsstore.NewRecord(res.Kind, obj))
	}
	return out, nil
}

// metricsHandler serves metricsPath on the leader: a JSON array of the
// objects asked for (one, or those matching the selectors).
func (m *masterProc) metricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		res, ok := m.reg.ByKind(q.Get("kind"))
		if !ok || res.Group != server.MetricsGroup {
			http.Error(w, "kind: not a metrics kind", http.StatusBadRequest)
			return
		}
		var recs []storage.Record
		if name := q.Get("name"); name != "" {
			rec, err := m.metrics.Get(r.Context(), res, q.Get("namespace"), name)
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			recs = []storage.Record{rec}
		} else {
			sel := storage.Selection{Namespace: q.Get("namespace")}
			var err error
			if sel.Labels, err = labels.Parse(q.Get("labelSelector")); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if sel.Fields, err = fields.ParseSelector(q.Get("fieldSelector")); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			recs = m.metrics.List(r.Context(), res, sel)
		}
		w.Header().Set("Content-Type", "application/json")
		raws := make([]json.RawMessage, len(recs))
		for i, rec := range recs {
			raws[i] = rec.JSON()
		}
		_ = json.NewEncoder(w).Encode(raws)
	})
}

// hpaMetrics gives the autoscaler the pods' usage from the leader's
// memory: per pod, the sum of its containers.
type hpaMetrics struct{ m *masterProc }

func (h hpaMetrics) PodUsage(ctx context.Context, namespace string) (map[string]corev1.ResourceList, error) {
	res, ok := h.m.reg.ByKind("PodMetrics")
	if !ok {
		return nil, errors.New("no PodMetrics kind")
	}
	out := map[string]corev1.ResourceList{}
	for _, rec := range h.m.metrics.List(ctx, res, storage.Selection{Namespace: namespace}) {
		pm := rec.Object().(*metricsv1beta1.PodMetrics)
		cpu, mem := resource.NewMilliQuantity(0, resource.DecimalSI), resource.NewQuantity(0, resource.BinarySI)
		for _, c := range pm.Containers {
			cpu.Add(*c.Usage.Cpu())
			mem.Add(*c.Usage.Memory())
		}
		out[pm.Name] = corev1.ResourceList{corev1.ResourceCPU: *cpu, corev1.ResourceMemory: *mem}
	}
	return out, nil
}
