package raftfsm

import (
	"fmt"

	"github.com/hashicorp/go-memdb"
	corev1 "k8s.io/api/core/v1"
)

// Index names.
const (
	indexID    = "id"    // namespace + name, unique
	indexOwner = "owner" // UIDs of owner references
	indexNode  = "node"  // pods: spec.nodeName
	// Services: the allocated cluster IP and node ports, each held by one
	// Service at most (see service.go).
	indexClusterIP = "clusterIP"
	indexNodePort  = "nodePort"
)

// stringIndex indexes records by one string derived from them; the
// derivation returns false when the record has no value for the index.
type stringIndex func(*record) (string, bool)

func (f stringIndex) FromObject(raw any) (bool, []byte, error) {
	v, ok := f(raw.(*record))
	if !ok {
		return false, nil, nil
	}
	return true, []byte(v + "\x00"), nil
}

func (f stringIndex) FromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return []byte(s + "\x00"), nil
}

func (f stringIndex) PrefixFromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// multiIndex indexes records by several strings each.
type multiIndex func(*record) []string

func (f multiIndex) FromObject(raw any) (bool, [][]byte, error) {
	vals := f(raw.(*record))
	if len(vals) == 0 {
		return false, nil, nil
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v + "\x00")
	}
	return true, out, nil
}

func (f multiIndex) FromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return []byte(s + "\x00"), nil
}

func oneString(args []any) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("index takes one argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return "", fmt.Errorf("index argument must be a string, got %T", args[0])
	}
	return s, nil
}

// idKey is the id index value of an object: namespace NUL name. Listing a
// namespace is a prefix scan of "namespace NUL".
func idKey(namespace, name string) string { return namespace + "\x00" + name }

var (
	idIndex    = stringIndex(func(r *record) (string, bool) { return idKey(r.meta.GetNamespace(), r.meta.GetName()), true })
	ownerIndex = multiIndex(func(r *record) []string {
		refs := r.meta.GetOwnerReferences()
		out := make([]string, 0, len(refs))
		for _, ref := range refs {
			out = append(out, string(ref.UID))
		}
		return out
	})
	podNodeIndex = stringIndex(func(r *record) (string, bool) {
		p, ok := r.Object().(*corev1.Pod)
		if !ok || p.Spec.NodeName == "" {
			return "", false
		}
		return p.Spec.NodeName, true
	})
)

// extraIndexes are the per-kind indexes beyond id, uid and owner.
var extraIndexes = map[string]map[string]memdb.Indexer{
	"Pod":     {indexNode: podNodeIndex},
	"Service": {indexClusterIP: serviceClusterIPIndex, indexNodePort: serviceNodePortIndex},
}
