package gc

import (
	"context"
	"fmt"
	"strconv"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ownerState is what the collector knows of one owner.
type ownerState int

const (
	ownerLive ownerState = iota
	ownerGone
	// ownerUnresolvable: a kind the registry does not serve, or a
	// reference no object could satisfy (a namespaced owner of a
	// cluster-scoped object). Kept: the collector deletes nothing on doubt.
	ownerUnresolvable
)

// sync checks the owners of the object of key: all gone → delete it (with
// its UID as precondition); some gone → remove their references.
func (c *Collector) sync(ctx context.Context, key string) error {
	kind, namespace, name, err := splitWorkKey(key)
	if err != nil {
		c.log.Error("dropping a work key", "err", err)
		return nil
	}
	inf := c.byKind[kind]
	if inf == nil {
		return nil
	}
	obj, ok := inf.Get(namespace, name)
	if !ok {
		return nil
	}
	if obj.GetDeletionTimestamp() != nil {
		return c.propagate(ctx, kind, obj) // on its way: orphan or delete its dependents if asked
	}
	refs := obj.GetOwnerReferences()
	if len(refs) == 0 {
		return nil
	}
	var live []metav1.OwnerReference
	for _, ref := range refs {
		st, err := c.owner(ctx, obj, ref)
		if err != nil {
			return err
		}
		if st != ownerGone {
			live = append(live, ref)
		}
	}
	switch {
	case len(live) == len(refs):
		return nil
	case len(live) == 0:
		// With finalizers, the delete only marks it: it goes once they
		// are removed.
		// As cached: if the object changed since (its references to the
		// owner removed by an orphaning), the delete conflicts and the
		// next sync looks again.
		rv, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
		err := c.cfg.Writer.Delete(ctx, kind, namespace, name, storage.Preconditions{UID: string(obj.GetUID()), ResourceVersion: rv})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("deleting %s %s: %w", kind, key, err)
		}
		c.log.Info("deleted a dependent of gone owners", "kind", kind, "object", reconcile.Key(obj), "owners", ownerNames(refs))
		return nil
	default:
		gone, err := c.updateStored(ctx, kind, obj, func(upd apis.Object) { upd.SetOwnerReferences(live) })
		if err != nil {
			return fmt.Errorf("removing gone owners of %s %s: %w", kind, key, err)
		}
		if !gone {
			c.log.Info("removed references to gone owners", "kind", kind, "object", reconcile.Key(obj), "kept", ownerNames(live))
		}
		return nil
	}
}

// owner finds out whether ref's object exists: the cache first, and the
// store to confirm an absence (the owner's informer may lag the
// dependent's).
func (c *Collector) owner(ctx context.Context, dep apis.Object, ref metav1.OwnerReference) (ownerState, error) {
	res, ok := c.cfg.Registry.ByKind(ref.Kind)
	if !ok {
		return ownerUnresolvable, nil
	}
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != res.Group {
		return ownerUnresolvable, nil
	}
	namespace := ""
	if res.Namespaced {
		if namespace = dep.GetNamespace(); namespace == "" {
			return ownerUnresolvable, nil
		}
	}
	if inf := c.byKind[ref.Kind]; inf != nil {
		if o, ok := inf.Get(namespace, ref.Name); ok && o.GetUID() == ref.UID {
			return ownerLive, nil
		}
	}
	rec, err := c.cfg.Reader.Get(ctx, res, namespace, ref.Name, true)
	if apierrors.IsNotFound(err) {
		return ownerGone, nil
	}
	if err != nil {
		return ownerLive, fmt.Errorf("reading owner %s %s: %w", ref.Kind, reconcile.JoinKey(namespace, ref.Name), err)
	}
	if storage.PartialMetadata(res, rec).GetUID() != ref.UID {
		return ownerGone, nil // same name, another object
	}
	return ownerLive, nil
}

func ownerNames(refs []metav1.OwnerReference) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.Kind+"/"+r.Name)
	}
	return out
}

// updateStored writes change to the stored object that cached shows (see
// stored). gone says it no longer exists: nothing to do then.
func (c *Collector) updateStored(ctx context.Context, kind string, cached apis.Object, change func(apis.Object)) (gone bool, err error) {
	cur, err := c.stored(ctx, kind, cached)
	if err == nil {
		upd := cur.DeepCopyObject().(apis.Object)
		change(upd)
		_, err = c.cfg.Writer.Update(ctx, kind, upd)
	}
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
}

// stored returns the whole stored object that cached shows, for a write.
// The informers may hold metadata alone (see Watch), so it is read from
// the store (the leader's own state); when the store has a newer version
// than cached, the sync fails with a conflict and runs again once the
// cache has caught up, as an update of the cached version would.
func (c *Collector) stored(ctx context.Context, kind string, cached apis.Object) (apis.Object, error) {
	if _, partial := cached.(*metav1.PartialObjectMetadata); !partial {
		return cached, nil
	}
	res, ok := c.cfg.Registry.ByKind(kind)
	if !ok {
		return nil, fmt.Errorf("gc: kind %q is not served", kind)
	}
	rec, err := c.cfg.Reader.Get(ctx, res, cached.GetNamespace(), cached.GetName(), true)
	if err != nil {
		return nil, err
	}
	obj := rec.Object()
	if obj.GetUID() != cached.GetUID() || obj.GetResourceVersion() != cached.GetResourceVersion() {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: res.Group, Resource: res.Plural}, cached.GetName(),
			fmt.Errorf("stored at resourceVersion %s (uid %s), cached at %s (uid %s)", obj.GetResourceVersion(), obj.GetUID(), cached.GetResourceVersion(), cached.GetUID()))
	}
	return obj, nil
}
