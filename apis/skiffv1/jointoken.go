package skiffv1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Join token roles.
const (
	RoleServer = "server"
	RoleWorker = "worker"
)

// JoinToken admits new hosts. Only a hash of its secret is stored; its name
// is the token's ID, derived from that hash, so the secret can be looked up
// without being kept.
type JoinToken struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              JoinTokenSpec   `json:"spec"`
	Status            JoinTokenStatus `json:"status,omitempty"`
}

// JoinTokenSpec describes a token.
type JoinTokenSpec struct {
	// Role is what the token makes of a host: server or worker.
	Role string `json:"role"`
	// SecretHash is the hex SHA-256 of the token's secret.
	SecretHash string `json:"secretHash"`
	// Expires is when the token stops working; nil means never.
	Expires *metav1.Time `json:"expires,omitempty"`
	// Description says what the token is for.
	Description string `json:"description,omitempty"`
}

// JoinTokenStatus counts the token's use.
type JoinTokenStatus struct {
	Uses     int64        `json:"uses,omitempty"`
	LastUsed *metav1.Time `json:"lastUsed,omitempty"`
}

// DeepCopyObject implements runtime.Object.
func (t *JoinToken) DeepCopyObject() runtime.Object {
	if t == nil {
		return nil
	}
	out := *t
	t.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	if t.Spec.Expires != nil {
		e := *t.Spec.Expires
		out.Spec.Expires = &e
	}
	if t.Status.LastUsed != nil {
		l := *t.Status.LastUsed
		out.Status.LastUsed = &l
	}
	return &out
}
