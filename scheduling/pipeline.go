package scheduling

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// WeightedScore is a score plugin and the weight of its score in the total.
type WeightedScore struct {
	Plugin ScorePlugin
	Weight int64
}

// Pipeline is an ordered chain of filters and weighted scores. Schedule
// may be called from several goroutines as long as each holds the
// snapshot it passes still.
type Pipeline struct {
	preFilters []PreFilterPlugin
	filters    []FilterPlugin
	scores     []WeightedScore
	scratch    sync.Pool // *scratch
	// nextStart is where the next attempt starts looking, so that
	// attempts that stop early (see NodesToFind) spread over all nodes.
	nextStart atomic.Uint64
}

// NodesToFind is how many feasible nodes an attempt looks for before it
// scores, out of n: every node up to 100, then, as kube-scheduler's
// adaptive percentageOfNodesToScore does, 50% less 1% per 125 nodes (at
// least 5%), but never fewer than 100. In a large cluster the best of a
// few hundred fitting nodes is as good a choice, found in a fraction of
// the time.
func NodesToFind(n int) int {
	if n <= 100 {
		return n
	}
	pct := max(50-n/125, 5)
	return min(max(n*pct/100, 100), n)
}

type scratch struct {
	feasible []*NodeInfo
	scores   []NodeScore
	totals   []int64
}

// ErrBadPipeline: a pipeline was built from nil or duplicate plugins or a
// weight below 1.
var ErrBadPipeline = errors.New("invalid scheduling pipeline")

// NewPipeline returns a pipeline that runs filters in order (a node's
// first refusal is its reason) and sums the weighted scores.
func NewPipeline(filters []FilterPlugin, scores []WeightedScore) (*Pipeline, error) {
	p := &Pipeline{filters: filters, scores: scores}
	p.scratch.New = func() any { return &scratch{} }
	names := sets.New[string]()
	for _, f := range filters {
		if f == nil || names.Has(f.Name()) {
			return nil, fmt.Errorf("%w: filter %v", ErrBadPipeline, f)
		}
		names.Insert(f.Name())
		if pf, ok := f.(PreFilterPlugin); ok {
			p.preFilters = append(p.preFilters, pf)
		}
	}
	for _, s := range scores {
		if s.Plugin == nil || names.Has(s.Plugin.Name()) || s.Weight < 1 {
			return nil, fmt.Errorf("%w: score %v weight %d", ErrBadPipeline, s.Plugin, s.Weight)
		}
		names.Insert(s.Plugin.Name())
	}
	return p, nil
}

// Default weights of the scores.
const (
	SpreadByOwnerWeight                 = 2
	LeastAllocatedWeight                = 1
	NodeAffinityPreferredWeight         = 2
	InterPodAntiAffinityPreferredWeight = 2
)

// DefaultFilters are the filters of the default pipeline, cheapest and
// most telling first.
func DefaultFilters() []FilterPlugin {
	return []FilterPlugin{
		NodeReady{},
		NodeSelector{},
		TaintToleration{},
		HostPorts{},
		NodeResourcesFit{},
	}
}

// DefaultScores are the weighted scores of the default pipeline.
func DefaultScores() []WeightedScore {
	return []WeightedScore{
		{SpreadByOwner{}, SpreadByOwnerWeight},
		{LeastAllocated{}, LeastAllocatedWeight},
		{NodeAffinityPreferred{}, NodeAffinityPreferredWeight},
		{InterPodAntiAffinityPreferred{}, InterPodAntiAffinityPreferredWeight},
	}
}

// DefaultPipeline returns the default filters and scores.
func DefaultPipeline() *Pipeline {
	p, err := NewPipeline(DefaultFilters(), DefaultScores())
	if err != nil {
		panic(err) // the defaults are valid; a test proves it
	}
	return p
}

// Filters returns the filters in order.
func (p *Pipeline) Filters() []FilterPlugin { return slices.Clone(p.filters) }

// Scores returns the weighted scores.
func (p *Pipeline) Scores() []WeightedScore { return slices.Clone(p.scores) }

// Schedule picks the node for pod among the nodes of snap: the feasible
// node with the highest weighted score; among equal best, the one a hash of
// the pod's UID points at, so ties are broken the same way every time yet
// spread over the nodes. When no node fits it returns a [FitError] saying
// why, per reason.
func (p *Pipeline) Schedule(ctx context.Context, snap *Snapshot, pod *PodInfo) (string, *FitError) {
	nodes := snap.Nodes()
	fitErr := &FitError{Pod: pod.Pod, NumAllNodes: len(nodes)}
	if err := ctx.Err(); err != nil {
		fitErr.Err = err
		return "", fitErr
	}
	if len(nodes) == 0 {
		return "", fitErr
	}
	state := NewCycleState(snap)
	for _, pf := range p.preFilters {
		if st := pf.PreFilter(ctx, state, pod); !st.IsSuccess() {
			fitErr.addAll(st.withPlugin(pf.Name()), len(nodes))
			return "", fitErr
		}
	}

	sc := p.scratch.Get().(*scratch)
	defer p.scratch.Put(sc)
	feasible := sc.feasible[:0]
	want := NodesToFind(len(nodes))
	start := int(p.nextStart.Load() % uint64(len(nodes)))
	looked := 0
	for ; looked < len(nodes) && len(feasible) < want; looked++ {
		n := nodes[(start+looked)%len(nodes)]
		if st := p.filter(ctx, state, pod, n); st != nil {
			fitErr.add(st)
			continue
		}
		feasible = append(feasible, n)
	}
	p.nextStart.Add(uint64(looked))
	sc.feasible = feasible
	switch len(feasible) {
	case 0:
		return "", fitErr
	case 1:
		return feasible[0].Name, nil
	}

	totals, err := p.score(ctx, state, pod, feasible, sc)
	if err != nil {
		fitErr.Err = err
		return "", fitErr
	}
	var best int64 = -1
	ties := 0
	for _, t := range totals {
		switch {
		case t > best:
			best, ties = t, 1
		case t == best:
			ties++
		}
	}
	pick := int(podHash(pod.Pod) % uint32(ties))
	for i, t := range totals {
		if t != best {
			continue
		}
		if pick == 0 {
			return feasible[i].Name, nil
		}
		pick--
	}
	panic("unreachable: no best node among feasible nodes")
}

// filter runs the filters on one node and returns the first refusal.
func (p *Pipeline) filter(ctx context.Context, state *CycleState, pod *PodInfo, n *NodeInfo) *Status {
	for _, f := range p.filters {
		if st := f.Filter(ctx, state, pod, n); !st.IsSuccess() {
			return st.withPlugin(f.Name())
		}
	}
	return nil
}

// score returns the weighted total of every feasible node.
func (p *Pipeline) score(ctx context.Context, state *CycleState, pod *PodInfo, feasible []*NodeInfo, sc *scratch) ([]int64, error) {
	totals := slices.Grow(sc.totals[:0], len(feasible))[:len(feasible)]
	clear(totals)
	sc.totals = totals
	scores := slices.Grow(sc.scores[:0], len(feasible))[:len(feasible)]
	sc.scores = scores
	defer clear(scores) // drop node pointers until the next use
	for _, ws := range p.scores {
		pl := ws.Plugin
		if ps, ok := pl.(PreScorePlugin); ok {
			st := ps.PreScore(ctx, state, pod, feasible)
			if st.Code() == Skip {
				continue
			}
			if !st.IsSuccess() {
				return nil, fmt.Errorf("%s pre-score: %w", pl.Name(), st.Err())
			}
		}
		for i, n := range feasible {
			s, st := pl.Score(ctx, state, pod, n)
			if !st.IsSuccess() {
				return nil, fmt.Errorf("%s score of node %s: %w", pl.Name(), n.Name, st.Err())
			}
			scores[i] = NodeScore{Node: n, Score: s}
		}
		if nz, ok := pl.(ScoreNormalizer); ok {
			if st := nz.NormalizeScore(ctx, state, pod, scores); !st.IsSuccess() {
				return nil, fmt.Errorf("%s normalize: %w", pl.Name(), st.Err())
			}
		}
		for i := range scores {
			s := min(max(scores[i].Score, 0), MaxNodeScore)
			totals[i] += s * ws.Weight
		}
	}
	return totals, nil
}

func podHash(pod *corev1.Pod) uint32 {
	h := fnv.New32a()
	if pod.UID != "" {
		h.Write([]byte(pod.UID))
	} else {
		h.Write([]byte(pod.Namespace + "/" + pod.Name))
	}
	return h.Sum32()
}

// FitError says why a pod fits on no node: how many nodes each reason
// refused, in Kubernetes' words.
type FitError struct {
	Pod         *corev1.Pod
	NumAllNodes int
	// Reasons counts the nodes refused per reason. A node refused for
	// several reasons by one filter ("Insufficient cpu", "Insufficient
	// memory") counts under each.
	Reasons map[string]int
	// Plugins names the filters that refused at least one node; the queue
	// uses them to decide which cluster events could help.
	Plugins sets.Set[string]
	// Err is set when the attempt failed rather than found no node: a
	// plugin error or a cancelled context.
	Err error
}

func (f *FitError) add(st *Status) {
	f.addAll(st, 1)
}

func (f *FitError) addAll(st *Status, nodes int) {
	if f.Reasons == nil {
		f.Reasons = map[string]int{}
		f.Plugins = sets.New[string]()
	}
	f.Plugins.Insert(st.Plugin())
	for _, r := range st.Reasons() {
		f.Reasons[r] += nodes
	}
	if len(st.Reasons()) == 0 {
		f.Reasons[st.Plugin()+" refused the node"] += nodes
	}
	if st.Code() == Error && f.Err == nil {
		f.Err = fmt.Errorf("%s: %w", st.Plugin(), st.Err())
	}
}

// Error reads like Kubernetes': "0/3 nodes are available: 2 Insufficient
// memory, 1 node(s) had untolerated taint {dedicated: db}." with the
// reasons ordered by count, then alphabetically.
func (f *FitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "0/%d nodes are available: ", f.NumAllNodes)
	switch {
	case len(f.Reasons) > 0:
		b.WriteString(strings.Join(f.Histogram(), ", "))
	case f.Err != nil:
		b.WriteString(f.Err.Error())
	case f.NumAllNodes == 0:
		b.WriteString("no nodes registered")
	default:
		b.WriteString("no node fits")
	}
	b.WriteString(".")
	return b.String()
}

// Histogram returns "count reason" strings, most frequent first.
func (f *FitError) Histogram() []string {
	type rc struct {
		reason string
		count  int
	}
	all := make([]rc, 0, len(f.Reasons))
	for r, c := range f.Reasons {
		all = append(all, rc{r, c})
	}
	slices.SortFunc(all, func(a, b rc) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return strings.Compare(a.reason, b.reason)
	})
	out := make([]string, len(all))
	for i, x := range all {
		out[i] = fmt.Sprintf("%d %s", x.count, x.reason)
	}
	return out
}

// Unwrap returns the internal error, if any.
func (f *FitError) Unwrap() error { return f.Err }
