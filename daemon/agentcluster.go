package daemon

import (
	"context"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// agentCluster is agent.Cluster over the API client with the node's
// certificate.
type agentCluster struct {
	c                                    *client.Client
	pods, nodes, configmaps, secrets, ev *resources.Resource
	podMetrics, nodeMetrics              *resources.Resource
}

func newAgentCluster(c *client.Client) *agentCluster {
	reg := c.Registry()
	get := func(kind string) *resources.Resource { r, _ := reg.ByKind(kind); return r }
	return &agentCluster{c: c, pods: get("Pod"), nodes: get("Node"), configmaps: get("ConfigMap"), secrets: get("Secret"), ev: get("Event"),
		podMetrics: get("PodMetrics"), nodeMetrics: get("NodeMetrics")}
}

func (a *agentCluster) ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	o, err := a.c.Get(ctx, a.configmaps, namespace, name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.ConfigMap), nil
}

func (a *agentCluster) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	o, err := a.c.Get(ctx, a.secrets, namespace, name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Secret), nil
}

func (a *agentCluster) PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	o, err := a.c.Get(ctx, resourceOf(a.c, "PersistentVolumeClaim"), namespace, name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.PersistentVolumeClaim), nil
}

func (a *agentCluster) PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	o, err := a.c.Get(ctx, resourceOf(a.c, "PersistentVolume"), "", name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.PersistentVolume), nil
}

func (a *agentCluster) UpdatePodStatus(ctx context.Context, pod *corev1.Pod) error {
	return a.c.UpdateStatusOnly(ctx, typed(pod, "v1", "Pod"))
}

func (a *agentCluster) DeletePod(ctx context.Context, namespace, name string, uid types.UID) error {
	_, err := a.c.Delete(ctx, a.pods, namespace, name, &metav1.Preconditions{UID: &uid})
	return err
}

func (a *agentCluster) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	o, err := a.c.Get(ctx, a.nodes, "", name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Node), nil
}

func (a *agentCluster) CreateNode(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	return nodeOf(a.c.Create(ctx, typed(node, "v1", "Node")))
}

func (a *agentCluster) UpdateNode(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	return nodeOf(a.c.Update(ctx, typed(node, "v1", "Node")))
}

func (a *agentCluster) UpdateNodeStatus(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	return nodeOf(a.c.UpdateStatus(ctx, typed(node, "v1", "Node")))
}

func (a *agentCluster) CreateEvent(ctx context.Context, ev *corev1.Event) error {
	if ev.Count > 1 {
		// A repeat: count it on the event written before (no
		// resourceVersion: the agent is its only writer).
		err := a.c.UpdateOnly(ctx, typed(ev.DeepCopy(), "v1", "Event"))
		if !apierrors.IsNotFound(err) {
			return err
		}
	}
	return a.c.CreateOnly(ctx, typed(ev, "v1", "Event"))
}

func nodeOf(o apis.Object, err error) (*corev1.Node, error) {
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Node), nil
}

// typed sets apiVersion and kind, which the client needs to find the
// resource.
func typed[T apis.Object](obj T, apiVersion, kind string) T {
	obj.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, kind))
	return obj
}
