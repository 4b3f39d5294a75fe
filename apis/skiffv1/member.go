package skiffv1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Member is one master of the Raft cluster. Its name is the Raft server ID.
// The leader writes it when a master joins, so that any master can tell
// clients and followers where every other master's API is.
type Member struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              MemberSpec `json:"spec"`
}

// MemberSpec holds a master's addresses.
type MemberSpec struct {
	// RaftAddress is host:port of the master's Raft transport.
	RaftAddress string `json:"raftAddress"`
	// APIAddress is host:port of the master's HTTP API.
	APIAddress string `json:"apiAddress"`
}

// DeepCopyObject implements runtime.Object.
func (m *Member) DeepCopyObject() runtime.Object {
	if m == nil {
		return nil
	}
	out := *m
	m.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	return &out
}

// MemberStatus is the live view of a master that `skiff cluster members`
// prints; it is computed on request, never stored.
type MemberStatus struct {
	ID          string `json:"id"`
	RaftAddress string `json:"raftAddress"`
	APIAddress  string `json:"apiAddress"`
	Voter       bool   `json:"voter"`
	Leader      bool   `json:"leader"`
	State       string `json:"state,omitempty"`
	Term        uint64 `json:"term,omitempty"`
	LastIndex   uint64 `json:"lastIndex"`
	AppliedIdx  uint64 `json:"appliedIndex"`
	Healthy     bool   `json:"healthy"`
	Error       string `json:"error,omitempty"`
}

// MemberStatusList is the answer of the members endpoint.
type MemberStatusList struct {
	Members []MemberStatus `json:"members"`
}
