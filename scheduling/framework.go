package scheduling

import (
	"context"
	"errors"
	"strings"
)

// MaxNodeScore is the highest score a score plugin gives a node; 0 is the
// lowest.
const MaxNodeScore int64 = 100

// Code is the outcome of a plugin call.
type Code int

const (
	// Success: the node passes (a nil *Status means Success too).
	Success Code = iota
	// Unschedulable: the pod does not fit on the node; the reasons say why.
	Unschedulable
	// Error: the plugin could not decide; the node is refused and the error
	// reported.
	Error
	// Skip: returned by PreScore when the plugin has nothing to say about
	// this pod (every node would score the same); its Score is not called.
	Skip
)

// String names the code.
func (c Code) String() string {
	switch c {
	case Success:
		return "Success"
	case Unschedulable:
		return "Unschedulable"
	case Error:
		return "Error"
	case Skip:
		return "Skip"
	}
	return "Unknown"
}

// Status is what a plugin says about a pod and a node. A nil *Status is
// Success.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a status with the given code and human-readable reasons,
// each of which is counted separately in a [FitError] ("Insufficient cpu").
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps err in an Error status.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code returns the status' code; Success for nil.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess reports whether s is nil or Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// Reasons returns the reasons given with the status.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Message joins the reasons.
func (s *Status) Message() string { return strings.Join(s.Reasons(), ", ") }

// Err returns the error of an Error status, or an error made of the
// reasons for any other non-success status.
func (s *Status) Err() error {
	if s.IsSuccess() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(s.Message())
}

// Plugin names the plugin that returned the status, once the pipeline has
// seen it.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

func (s *Status) withPlugin(name string) *Status {
	if s != nil {
		s.plugin = name
	}
	return s
}

// Plugin is a named step of the pipeline.
type Plugin interface {
	Name() string
}

// FilterPlugin refuses nodes the pod cannot run on. Filter is called once per
// node per scheduling attempt, so it must be cheap: per-pod work belongs in
// [NewPodInfo] or a PreFilter.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) *Status
}

// PreFilterPlugin runs once per scheduling attempt before any Filter, to
// compute per-pod data into state. A non-success status stops the attempt:
// every node is refused with its reasons.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *PodInfo) *Status
}

// ScorePlugin ranks the nodes that passed every filter. Score returns a raw
// score; unless the plugin also implements [ScoreNormalizer] it must lie in
// [0, MaxNodeScore].
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *PodInfo, node *NodeInfo) (int64, *Status)
}

// PreScorePlugin runs once per attempt before Score with the feasible nodes.
// Returning Skip leaves the plugin out of this attempt.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *PodInfo, nodes []*NodeInfo) *Status
}

// ScoreNormalizer rewrites a plugin's raw scores of all feasible nodes into
// [0, MaxNodeScore], e.g. relative to the highest raw score.
type ScoreNormalizer interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *PodInfo, scores []NodeScore) *Status
}

// NodeScore is one node's score from one plugin, or the weighted total.
type NodeScore struct {
	Node  *NodeInfo
	Score int64
}

// StateKey names a value a plugin keeps in a [CycleState].
type StateKey string

// CycleState carries data through one scheduling attempt of one pod. It is
// used by one goroutine at a time.
type CycleState struct {
	// Snapshot is the cluster the attempt runs against (read-only).
	Snapshot *Snapshot
	data     map[StateKey]any
}

// NewCycleState returns the state of an attempt against snap.
func NewCycleState(snap *Snapshot) *CycleState {
	return &CycleState{Snapshot: snap}
}

// Write stores v under key.
func (c *CycleState) Write(key StateKey, v any) {
	if c.data == nil {
		c.data = map[StateKey]any{}
	}
	c.data[key] = v
}

// Read returns the value under key.
func (c *CycleState) Read(key StateKey) (any, bool) {
	v, ok := c.data[key]
	return v, ok
}

// normalizeToMax rescales scores so the highest becomes MaxNodeScore.
func normalizeToMax(scores []NodeScore) {
	var hi int64
	for _, s := range scores {
		hi = max(hi, s.Score)
	}
	for i := range scores {
		if hi == 0 {
			scores[i].Score = 0
			continue
		}
		scores[i].Score = MaxNodeScore * scores[i].Score / hi
	}
}
