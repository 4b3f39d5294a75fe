package agent

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Cluster is what the agent needs of the API. The daemon implements it with
// the API client and the node's certificate; unit tests use a fake.
type Cluster interface {
	// ConfigMap and Secret read the objects the node's pods use; a missing
	// one is a NotFound API error.
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	// UpdatePodStatus writes pod.Status.
	UpdatePodStatus(ctx context.Context, pod *corev1.Pod) error
	// DeletePod removes a pod whose containers have stopped (the last step
	// of a graceful deletion); uid guards against a newer pod of the name.
	DeletePod(ctx context.Context, namespace, name string, uid types.UID) error
	// GetNode, CreateNode and UpdateNodeStatus register and heartbeat.
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
	CreateNode(ctx context.Context, node *corev1.Node) (*corev1.Node, error)
	// UpdateNode writes the node's labels and taints.
	UpdateNode(ctx context.Context, node *corev1.Node) (*corev1.Node, error)
	UpdateNodeStatus(ctx context.Context, node *corev1.Node) (*corev1.Node, error)
	// CreateEvent records an event; one with Count > 1 is a repeat of an
	// event recorded before under the same name, to be updated. Failures
	// are logged, never fatal.
	CreateEvent(ctx context.Context, ev *corev1.Event) error
}
