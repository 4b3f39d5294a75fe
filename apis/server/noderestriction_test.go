package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/auth"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// storeGraph answers the node authorizer from a store.
type storeGraph struct {
	store storage.Store
	reg   *resources.Registry
}

func (g storeGraph) PodsOnNode(string) []*corev1.Pod { return nil }
func (g storeGraph) Pod(string, string) *corev1.Pod  { return nil }
func (g storeGraph) PersistentVolume(name string) *corev1.PersistentVolume {
	res, _ := g.reg.ByKind("PersistentVolume")
	rec, err := g.store.Get(context.Background(), res, "", name, true)
	if err != nil {
		return nil
	}
	return rec.Object().(*corev1.PersistentVolume)
}

// A node may remove the cleanup finalizer of its own local volume once
// the volume is being deleted, and change nothing else of it.
func TestNodeMayOnlyFinishItsVolumesDeletion(t *testing.T) {
	reg := resources.Default()
	store := raftfsm.NewMemStore(raftfsm.FSMConfig{Registry: reg, History: 8})
	api := httptest.NewServer(server.New(server.Config{Store: store, Registry: reg,
		Authenticate: func(r *http.Request) (auth.User, error) {
			if r.Header.Get(roleHeader) == auth.RoleNode {
				return auth.User{Name: "node:n1", Role: auth.RoleNode, Node: "n1"}, nil
			}
			return auth.User{Name: "user:admin", Role: auth.RoleAdmin}, nil
		},
		Authorizer: &auth.Authorizer{Graph: storeGraph{store, reg}},
	}))
	t.Cleanup(api.Close)
	newClient := func(role string) *client.Client {
		c, err := client.New(&client.Config{Servers: []string{api.URL}}, client.Options{Transport: roleTransport(role)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	admin, node := newClient(auth.RoleAdmin), newClient(auth.RoleNode)
	ctx := context.Background()
	pv := &corev1.PersistentVolume{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolume"},
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Labels: map[string]string{apis.LabelVolumeNode: "n1"},
			Finalizers: []string{apis.FinalizerLocalPathCleanup}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/var/lib/skiff/storage/pvc-1_default_data"}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}}}}},
		},
	}
	obj, err := admin.Create(ctx, pv)
	if err != nil {
		t.Fatal(err)
	}
	cur := obj.(*corev1.PersistentVolume)
	steal := cur.DeepCopy()
	steal.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "shop", Name: "orders"}
	if _, err := node.Update(ctx, steal); !apierrors.IsForbidden(err) {
		t.Fatalf("a node pointing its volume at another claim: %v, want Forbidden", err)
	}
	res, _ := reg.ByKind("PersistentVolume")
	if _, err := admin.Delete(ctx, res, "", "pvc-1", nil); err != nil {
		t.Fatal(err)
	}
	o, err := admin.Get(ctx, res, "", "pvc-1")
	if err != nil {
		t.Fatal(err)
	}
	cur = o.(*corev1.PersistentVolume)
	sneaky := cur.DeepCopy()
	sneaky.Finalizers = nil
	sneaky.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	if _, err := node.Update(ctx, sneaky); !apierrors.IsForbidden(err) {
		t.Fatalf("a node changing the policy while finishing: %v, want Forbidden", err)
	}
	done := cur.DeepCopy()
	done.Finalizers = slices.DeleteFunc(done.Finalizers, func(f string) bool { return f == apis.FinalizerLocalPathCleanup })
	if _, err := node.Update(ctx, done); err != nil {
		t.Fatalf("the node finishing the deletion: %v", err)
	}
	if _, err := admin.Get(ctx, res, "", "pvc-1"); !apierrors.IsNotFound(err) {
		t.Fatalf("the volume after its last finalizer: %v", err)
	}
}
