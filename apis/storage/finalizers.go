package storage

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PropagationFinalizer is the finalizer that carries out a deletion's
// propagation policy (DeleteOptions.propagationPolicy): orphan for Orphan,
// foregroundDeletion for Foreground, none for Background (the garbage
// collector deletes the dependents after their owner is gone).
func PropagationFinalizer(opts metav1.DeleteOptions) string {
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationOrphan:
			return metav1.FinalizerOrphanDependents
		case metav1.DeletePropagationForeground:
			return metav1.FinalizerDeleteDependents
		}
		return ""
	}
	if opts.OrphanDependents != nil && *opts.OrphanDependents {
		return metav1.FinalizerOrphanDependents
	}
	return ""
}

// DeleteHonouringFinalizers deletes an object, or, while it has finalizers
// (its own, plus extra when not empty), only marks it: deletionTimestamp
// set and deletionGracePeriodSeconds 0. Whoever owns a finalizer then does
// its work and removes it; the update that removes the last one deletes
// the object (FinishDeletion). deleted reports which happened.
func DeleteHonouringFinalizers(ctx context.Context, s Store, res *resources.Resource, namespace, name string, pre Preconditions,
	extra string, now time.Time) (rec Record, deleted bool, err error) {
	for attempt := 0; ; attempt++ {
		cur, err := s.Get(ctx, res, namespace, name, false)
		if err != nil {
			return nil, false, err
		}
		obj := cur.Object()
		rv, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
		fins := obj.GetFinalizers()
		if extra != "" && !slices.Contains(fins, extra) {
			fins = append(slices.Clone(fins), extra)
		}
		mismatch := pre.UID != "" && string(obj.GetUID()) != pre.UID || pre.ResourceVersion != 0 && pre.ResourceVersion != rv
		if mismatch {
			rec, err := s.Delete(ctx, res, namespace, name, pre) // refused with the store's usual conflict
			return rec, err == nil, err
		}
		if len(fins) == 0 {
			// As read: a finalizer added meanwhile makes this a conflict,
			// and the next round marks the object instead.
			rec, err := s.Delete(ctx, res, namespace, name, Preconditions{UID: string(obj.GetUID()), ResourceVersion: rv})
			if apierrors.IsConflict(err) && pre.ResourceVersion == 0 && attempt < 5 {
				continue
			}
			return rec, err == nil, err
		}
		zero := int64(0)
		g := obj.GetDeletionGracePeriodSeconds()
		if obj.GetDeletionTimestamp() != nil && len(fins) == len(obj.GetFinalizers()) && g != nil && *g == 0 {
			return cur, false, nil // already waiting for its finalizers
		}
		next := obj.DeepCopyObject().(apis.Object)
		if next.GetDeletionTimestamp() == nil {
			at := metav1.NewTime(now.UTC().Truncate(time.Second))
			next.SetDeletionTimestamp(&at)
		}
		next.SetDeletionGracePeriodSeconds(&zero)
		next.SetFinalizers(fins)
		next.SetResourceVersion("")
		rec, err := s.Update(ctx, res, next, rv)
		if apierrors.IsConflict(err) && pre.ResourceVersion == 0 && attempt < 5 {
			continue // changed meanwhile: mark the new version
		}
		return rec, false, err
	}
}

// FinishDeletion deletes the object just written as rec when it was
// waiting for finalizers and has none left (and, for a pod, its grace
// period is over), as Kubernetes' registry does on update. It returns the
// deleted object's record in that case, rec otherwise.
func FinishDeletion(ctx context.Context, s Store, res *resources.Resource, rec Record) (Record, error) {
	obj := rec.Object()
	g := obj.GetDeletionGracePeriodSeconds()
	if obj.GetDeletionTimestamp() == nil || len(obj.GetFinalizers()) > 0 || g != nil && *g > 0 {
		return rec, nil
	}
	rv, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	gone, err := s.Delete(ctx, res, obj.GetNamespace(), obj.GetName(), Preconditions{UID: string(obj.GetUID()), ResourceVersion: rv})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return rec, nil // someone else finished it, or changed it again
	}
	return gone, err
}
