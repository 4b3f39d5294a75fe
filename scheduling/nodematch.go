package scheduling

import (
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// fieldNodeName is the only field matchFields may name.
const fieldNodeName = "metadata.name"

// NodeMatcher is a pod's spec.nodeSelector and required node affinity,
// compiled: a node must carry every nodeSelector label and match at least
// one of the required terms.
type NodeMatcher struct {
	selector map[string]string
	// required is set when the pod has required node affinity; its terms
	// are ORed and an empty list matches no node.
	required bool
	terms    []NodeTerm
}

// newPodNodeMatcher compiles pod's node constraints; nil when it has none.
func newPodNodeMatcher(pod *corev1.Pod) *NodeMatcher {
	var m NodeMatcher
	if len(pod.Spec.NodeSelector) > 0 {
		m.selector = pod.Spec.NodeSelector
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil &&
		a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		m.required = true
		for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			m.terms = append(m.terms, compileNodeTerm(t))
		}
	}
	if m.selector == nil && !m.required {
		return nil
	}
	return &m
}

// Matches reports whether node satisfies the constraints; a nil matcher
// matches every node.
func (m *NodeMatcher) Matches(node *corev1.Node) bool {
	if m == nil {
		return true
	}
	for k, v := range m.selector {
		if got, ok := node.Labels[k]; !ok || got != v {
			return false
		}
	}
	if !m.required {
		return true
	}
	for i := range m.terms {
		if m.terms[i].Matches(node) {
			return true
		}
	}
	return false
}

// NodeTerm is a compiled node selector term: its label expressions and
// field expressions are ANDed. An empty or invalid term matches no node.
type NodeTerm struct {
	labels  []nodeRequirement
	fields  []nodeRequirement
	invalid bool
}

type nodeRequirement struct {
	key    string
	op     corev1.NodeSelectorOperator
	values []string
	num    int64 // the operand of Gt and Lt
}

func compileNodeTerm(t corev1.NodeSelectorTerm) NodeTerm {
	var out NodeTerm
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		out.invalid = true
		return out
	}
	for _, e := range t.MatchExpressions {
		r, ok := compileRequirement(e)
		if !ok {
			out.invalid = true
			return out
		}
		out.labels = append(out.labels, r)
	}
	for _, e := range t.MatchFields {
		r, ok := compileRequirement(e)
		if !ok || e.Key != fieldNodeName || (r.op != corev1.NodeSelectorOpIn && r.op != corev1.NodeSelectorOpNotIn) {
			out.invalid = true
			return out
		}
		out.fields = append(out.fields, r)
	}
	return out
}

func compileRequirement(e corev1.NodeSelectorRequirement) (nodeRequirement, bool) {
	r := nodeRequirement{key: e.Key, op: e.Operator, values: e.Values}
	switch e.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		return r, len(e.Values) > 0
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		return r, len(e.Values) == 0
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(e.Values) != 1 {
			return r, false
		}
		n, err := strconv.ParseInt(e.Values[0], 10, 64)
		r.num = n
		return r, err == nil
	}
	return r, false
}

// Matches reports whether node satisfies every expression of the term.
func (t *NodeTerm) Matches(node *corev1.Node) bool {
	if t.invalid {
		return false
	}
	for i := range t.labels {
		v, ok := node.Labels[t.labels[i].key]
		if !t.labels[i].matches(v, ok) {
			return false
		}
	}
	for i := range t.fields {
		if !t.fields[i].matches(node.Name, true) {
			return false
		}
	}
	return true
}

// matches applies the requirement to a value that is present or not.
func (r *nodeRequirement) matches(v string, present bool) bool {
	switch r.op {
	case corev1.NodeSelectorOpIn:
		return present && slices.Contains(r.values, v)
	case corev1.NodeSelectorOpNotIn:
		return !present || !slices.Contains(r.values, v)
	case corev1.NodeSelectorOpExists:
		return present
	case corev1.NodeSelectorOpDoesNotExist:
		return !present
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !present {
			return false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return false
		}
		if r.op == corev1.NodeSelectorOpGt {
			return n > r.num
		}
		return n < r.num
	}
	return false
}

// VolumeReachable reports whether a pod on node can use a volume with
// node affinity na: any node when there is none, else one matching one of
// its required terms. The volume controller binds with it; VolumeBinding
// compiles the same terms once per attempt.
func VolumeReachable(na *corev1.VolumeNodeAffinity, node *corev1.Node) bool {
	if na == nil || na.Required == nil {
		return true
	}
	for _, t := range na.Required.NodeSelectorTerms {
		if term := compileNodeTerm(t); term.Matches(node) {
			return true
		}
	}
	return false
}
