package gc

import (
	"context"
	"fmt"
	"slices"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// propagation returns the propagation finalizer obj carries (orphan or
// foregroundDeletion; the API never sets both), or "".
func propagation(obj apis.Object) string {
	for _, f := range obj.GetFinalizers() {
		if f == metav1.FinalizerOrphanDependents || f == metav1.FinalizerDeleteDependents {
			return f
		}
	}
	return ""
}

// propagate carries out the deletion of owner, marked with a propagation
// finalizer: orphan removes the owner from its dependents'
// ownerReferences; foregroundDeletion deletes the dependents and waits
// until they are gone. Either way the finalizer is then removed, and with
// the last one the owner goes.
func (c *Collector) propagate(ctx context.Context, kind string, owner apis.Object) error {
	fin := propagation(owner)
	if fin == "" {
		return nil
	}
	// From the store, not the caches: a dependent the caches have not
	// seen yet would lose its owner and be collected (orphan), or be left
	// behind its owner (foreground).
	deps, err := c.storedDependents(ctx, owner)
	if err != nil {
		return err
	}
	switch fin {
	case metav1.FinalizerOrphanDependents:
		for _, d := range deps {
			if err := c.release(ctx, d, owner); err != nil {
				return err
			}
		}
	case metav1.FinalizerDeleteDependents:
		waiting := 0
		for _, d := range deps {
			waiting++
			if d.obj.GetDeletionTimestamp() != nil {
				continue // on its way; its deletion enqueues the owner again
			}
			err := c.cfg.Writer.Delete(ctx, d.kind, d.obj.GetNamespace(), d.obj.GetName(), storage.Preconditions{UID: string(d.obj.GetUID())})
			if apierrors.IsNotFound(err) {
				waiting--
				continue
			}
			if err != nil {
				return fmt.Errorf("deleting %s %s, a dependent of %s %s: %w", d.kind, reconcile.Key(d.obj), kind, reconcile.Key(owner), err)
			}
		}
		if waiting > 0 {
			c.log.Debug("foreground deletion waits for dependents", "kind", kind, "object", reconcile.Key(owner), "dependents", waiting)
			return nil
		}
	}
	gone, err := c.updateStored(ctx, kind, owner, func(upd apis.Object) {
		upd.SetFinalizers(slices.DeleteFunc(upd.GetFinalizers(), func(f string) bool { return f == fin }))
	})
	if err != nil {
		return fmt.Errorf("removing finalizer %s of %s %s: %w", fin, kind, reconcile.Key(owner), err)
	}
	if gone {
		return nil
	}
	c.log.Info("carried out a deletion's propagation", "kind", kind, "object", reconcile.Key(owner), "finalizer", fin, "dependents", len(deps))
	return nil
}

type dependent struct {
	kind string
	obj  *metav1.PartialObjectMetadata
}

// storedDependents are the objects of the watched kinds in owner's
// namespace (all, for a cluster-scoped owner) that have it among their
// owners, as the leader's store holds them now: their metadata, which is
// all the store decodes of most kinds until asked for more.
func (c *Collector) storedDependents(ctx context.Context, owner apis.Object) ([]dependent, error) {
	var out []dependent
	for _, inf := range c.cfg.Informers {
		res := inf.Resource()
		sel := storage.Selection{}
		if res.Namespaced {
			sel.Namespace = owner.GetNamespace()
		}
		l, err := c.cfg.Reader.List(ctx, res, storage.ListOptions{Selection: sel, Stale: true})
		if err != nil {
			return nil, fmt.Errorf("listing %s for dependents of %s: %w", res.Plural, reconcile.Key(owner), err)
		}
		for _, rec := range l.Items {
			obj := storage.PartialMetadata(res, rec)
			for _, ref := range obj.GetOwnerReferences() {
				if ref.UID == owner.GetUID() {
					out = append(out, dependent{kind: inf.Kind(), obj: obj})
					break
				}
			}
		}
	}
	return out, nil
}

// release removes owner from d's ownerReferences.
func (c *Collector) release(ctx context.Context, d dependent, owner apis.Object) error {
	_, err := c.updateStored(ctx, d.kind, d.obj, func(upd apis.Object) {
		upd.SetOwnerReferences(slices.DeleteFunc(upd.GetOwnerReferences(), func(r metav1.OwnerReference) bool {
			return r.UID == owner.GetUID()
		}))
	})
	if err != nil {
		return fmt.Errorf("orphaning %s %s: %w", d.kind, reconcile.Key(d.obj), err)
	}
	return nil
}
