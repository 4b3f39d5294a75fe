package scheduling

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNodeSelector(t *testing.T) {
	const mismatch = "Unschedulable: " + ReasonNodeSelectorMismatch
	node := makeNode("n1", "1", "1Gi", 10, nodeLabels("disk", "ssd", "zone", "a", "cores", "8"))
	in, notIn := corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn
	exists, dne := corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist
	gt, lt := corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt
	fields := func(op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{expr("metadata.name", op, values...)}}
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"no constraints", makePod("p"), ""},
		{"nodeSelector matches", makePod("p", nodeSelector("disk", "ssd")), ""},
		{"nodeSelector value differs", makePod("p", nodeSelector("disk", "hdd")), mismatch},
		{"nodeSelector label missing", makePod("p", nodeSelector("gpu", "yes")), mismatch},
		{"nodeSelector all labels needed", makePod("p", nodeSelector("disk", "ssd", "zone", "b")), mismatch},
		{"In", makePod("p", requiredTerms(term(expr("zone", in, "b", "a")))), ""},
		{"In, other values", makePod("p", requiredTerms(term(expr("zone", in, "b", "c")))), mismatch},
		{"In, label missing", makePod("p", requiredTerms(term(expr("gpu", in, "yes")))), mismatch},
		{"NotIn", makePod("p", requiredTerms(term(expr("zone", notIn, "b")))), ""},
		{"NotIn, value listed", makePod("p", requiredTerms(term(expr("zone", notIn, "a")))), mismatch},
		{"NotIn, label missing", makePod("p", requiredTerms(term(expr("gpu", notIn, "yes")))), ""},
		{"Exists", makePod("p", requiredTerms(term(expr("disk", exists)))), ""},
		{"Exists, missing", makePod("p", requiredTerms(term(expr("gpu", exists)))), mismatch},
		{"DoesNotExist", makePod("p", requiredTerms(term(expr("gpu", dne)))), ""},
		{"DoesNotExist, present", makePod("p", requiredTerms(term(expr("disk", dne)))), mismatch},
		{"Gt", makePod("p", requiredTerms(term(expr("cores", gt, "4")))), ""},
		{"Gt, equal", makePod("p", requiredTerms(term(expr("cores", gt, "8")))), mismatch},
		{"Lt", makePod("p", requiredTerms(term(expr("cores", lt, "16")))), ""},
		{"Lt, larger", makePod("p", requiredTerms(term(expr("cores", lt, "2")))), mismatch},
		{"Gt, label not a number", makePod("p", requiredTerms(term(expr("disk", gt, "1")))), mismatch},
		{"Gt, operand not a number", makePod("p", requiredTerms(term(expr("cores", gt, "x")))), mismatch},
		{"Gt, two operands", makePod("p", requiredTerms(term(expr("cores", gt, "1", "2")))), mismatch},
		{"expressions ANDed", makePod("p", requiredTerms(term(expr("zone", in, "a"), expr("disk", in, "hdd")))), mismatch},
		{"expressions ANDed, all match", makePod("p", requiredTerms(term(expr("zone", in, "a"), expr("disk", in, "ssd")))), ""},
		{"terms ORed", makePod("p", requiredTerms(term(expr("zone", in, "b")), term(expr("disk", in, "ssd")))), ""},
		{"terms ORed, none matches", makePod("p", requiredTerms(term(expr("zone", in, "b")), term(expr("disk", in, "hdd")))), mismatch},
		{"no terms", makePod("p", requiredTerms()), mismatch},
		{"empty term", makePod("p", requiredTerms(corev1.NodeSelectorTerm{})), mismatch},
		{"bad term does not spoil a good one", makePod("p", requiredTerms(term(expr("zone", "Bogus", "a")), term(expr("zone", in, "a")))), ""},
		{"In without values", makePod("p", requiredTerms(term(expr("zone", in)))), mismatch},
		{"matchFields name", makePod("p", requiredTerms(fields(in, "n1"))), ""},
		{"matchFields other name", makePod("p", requiredTerms(fields(in, "n2"))), mismatch},
		{"matchFields NotIn", makePod("p", requiredTerms(fields(notIn, "n2"))), ""},
		{"matchFields unsupported field", makePod("p", requiredTerms(corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{expr("metadata.uid", in, "n1")}})), mismatch},
		{"matchFields and matchExpressions ANDed", makePod("p", requiredTerms(corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{expr("zone", in, "b")},
			MatchFields:      []corev1.NodeSelectorRequirement{expr("metadata.name", in, "n1")}})), mismatch},
		{"nodeSelector and affinity both needed", makePod("p", nodeSelector("disk", "hdd"),
			requiredTerms(term(expr("zone", in, "a")))), mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filterResult(NodeSelector{}, tt.pod, nodeWith(node)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
