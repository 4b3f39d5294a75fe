package skiffv1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// User is a person or program allowed to use the API with a client
// certificate naming it. Deleting the User revokes its access.
type User struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              UserSpec `json:"spec"`
}

// UserSpec gives a user's role.
type UserSpec struct {
	// Role is admin, edit or view.
	Role string `json:"role"`
	// Namespace limits the role to one namespace; empty means all.
	Namespace string `json:"namespace,omitempty"`
}

// DeepCopyObject implements runtime.Object.
func (u *User) DeepCopyObject() runtime.Object {
	if u == nil {
		return nil
	}
	out := *u
	u.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	return &out
}
