package server

import (
	"context"
	"fmt"
	"slices"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/auth"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// nodeRestriction limits what a node may change in the objects the
// authorizer lets it update beyond its own: of a local volume on it, only
// the removal of the cleanup finalizer once the volume is being deleted.
// (The authorizer sees the stored object's node label, not the change.)
func nodeRestriction(ctx context.Context, t *target, obj, cur apis.Object) error {
	user, ok := UserFrom(ctx)
	if !ok || user.Role != auth.RoleNode || t.res.Kind != "PersistentVolume" {
		return nil
	}
	deny := func(why string) error {
		return apierrors.NewForbidden(groupResource(t.res), t.name, fmt.Errorf("node %s: %s", user.Node, why))
	}
	if cur.GetDeletionTimestamp() == nil {
		return deny("a node changes a volume only to finish its deletion")
	}
	want := slices.DeleteFunc(slices.Clone(cur.GetFinalizers()), func(f string) bool { return f == apis.FinalizerLocalPathCleanup })
	probe := obj.DeepCopyObject().(apis.Object)
	if !slices.Equal(probe.GetFinalizers(), want) && !slices.Equal(probe.GetFinalizers(), cur.GetFinalizers()) {
		return deny("a node may only remove the " + apis.FinalizerLocalPathCleanup + " finalizer")
	}
	probe.SetFinalizers(cur.GetFinalizers())
	probe.SetResourceVersion(cur.GetResourceVersion())
	probe.GetObjectKind().SetGroupVersionKind(cur.GetObjectKind().GroupVersionKind())
	if !equality.Semantic.DeepEqual(probe, cur) {
		return deny("a node may only remove the " + apis.FinalizerLocalPathCleanup + " finalizer")
	}
	return nil
}
