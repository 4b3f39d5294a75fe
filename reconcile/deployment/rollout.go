package deployment

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// desired is the Deployment's spec.replicas.
func desired(d *appsv1.Deployment) int32 { return ptr.Deref(d.Spec.Replicas, 1) }

// limits resolves a RollingUpdate's maxSurge (percent rounded up) and
// maxUnavailable (rounded down) against spec.replicas. Should both come
// to 0, one pod may be unavailable: a rollout must be able to move. The
// Recreate strategy has neither.
func limits(d *appsv1.Deployment) (surge, unavailable int32) {
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType || ru == nil {
		return 0, 0
	}
	n := int(desired(d))
	s, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(ru.MaxSurge, intstr.FromString("25%")), n, true)
	if err != nil {
		s = 0
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(ru.MaxUnavailable, intstr.FromString("25%")), n, false)
	if err != nil {
		u = 0
	}
	u = min(u, n)
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u)
}

// scale sets rs's spec.replicas to n and records the step on d.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, n int32) (*appsv1.ReplicaSet, error) {
	from := specReplicas(rs)
	if from == n {
		return rs, nil
	}
	next := rs.DeepCopy()
	next.Spec.Replicas = ptr.To(n)
	obj, err := c.cfg.Writer.Update(ctx, "ReplicaSet", next)
	if err != nil {
		return nil, fmt.Errorf("scaling replica set %s to %d: %w", reconcile.Key(rs), n, err)
	}
	dir := "up"
	if n < from {
		dir = "down"
	}
	c.log.Info("scaled replica set", "deployment", reconcile.Key(d), "replicaset", rs.Name, "from", from, "to", n)
	c.cfg.Recorder.Event(ctx, d, corev1.EventTypeNormal, ReasonScalingReplicaSet, fmt.Sprintf("Scaled %s replica set %s to %d", dir, rs.Name, n))
	return obj.(*appsv1.ReplicaSet), nil
}

// rollingUpdate runs one RollingUpdate step: the new ReplicaSet grows while
// all pods stay within replicas+maxSurge, the old ones shrink while the
// available pods stay at replicas-maxUnavailable or more. Pods an old
// ReplicaSet has that are not available go first: removing them costs no
// availability. Counts come from the ReplicaSets' statuses, taken at their
// most careful (see podsOf and availableOf), so a ReplicaSet controller
// lagging behind a step never lets the next step go too far.
func (c *Controller) rollingUpdate(ctx context.Context, r *rollout) error {
	d := r.d
	want := desired(d)
	surge, unavailable := limits(d)

	var pods int32
	for _, rs := range r.all() {
		pods += podsOf(rs)
	}
	n := specReplicas(r.newRS)
	target := n
	switch {
	case n > want:
		target = want
	case n < want:
		if room := want + surge - pods; room > 0 {
			target = min(want, n+room)
		}
	}
	rs, err := c.scale(ctx, d, r.newRS, target)
	if err != nil {
		return err
	}
	r.newRS = rs

	var available int32
	for _, rs := range r.all() {
		available += availableOf(rs)
	}
	budget := available - (want - unavailable)
	for i, old := range r.olds {
		n := specReplicas(old)
		if n == 0 {
			continue
		}
		var down int32
		if caughtUp(old) {
			down = n - min(old.Status.AvailableReplicas, n)
		}
		if budget > 0 {
			take := min(n-down, budget)
			down += take
			budget -= take
		}
		if down == 0 {
			continue
		}
		rs, err := c.scale(ctx, d, old, n-down)
		if err != nil {
			return err
		}
		r.olds[i] = rs
	}
	return nil
}

// recreate scales every old ReplicaSet to 0, waits until their pods are
// gone, then scales the new one to spec.replicas.
func (c *Controller) recreate(ctx context.Context, r *rollout) error {
	waiting := false
	for i, old := range r.olds {
		if specReplicas(old) > 0 {
			rs, err := c.scale(ctx, r.d, old, 0)
			if err != nil {
				return err
			}
			r.olds[i] = rs
			waiting = true
		}
		if old.Status.Replicas > 0 || c.hasPods(old) {
			waiting = true
		}
	}
	if waiting {
		return nil // a pod's deletion brings the Deployment back
	}
	rs, err := c.scale(ctx, r.d, r.newRS, desired(r.d))
	if err != nil {
		return err
	}
	r.newRS = rs
	return nil
}

// hasPods reports whether any pod rs controls still exists (running or
// being stopped); finished pods do not count.
func (c *Controller) hasPods(rs *appsv1.ReplicaSet) bool {
	for _, p := range reconcile.As[*corev1.Pod](c.cfg.Pods.ByIndex(reconcile.IndexControllerUID, string(rs.UID))) {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			return true
		}
	}
	return false
}

// scalePaused applies a change of spec.replicas while the rollout is
// paused, to the current ReplicaSet only: the new one if it exists, else
// the newest that has replicas.
func (c *Controller) scalePaused(ctx context.Context, r *rollout) error {
	cur := r.newRS
	if cur == nil {
		for _, rs := range r.olds {
			if specReplicas(rs) > 0 {
				cur = rs // olds are oldest first
			}
		}
	}
	if cur == nil {
		return nil
	}
	var total int32
	for _, rs := range r.all() {
		total += specReplicas(rs)
	}
	diff := desired(r.d) - total
	if diff == 0 {
		return nil
	}
	rs, err := c.scale(ctx, r.d, cur, max(0, specReplicas(cur)+diff))
	if err != nil {
		return err
	}
	if cur == r.newRS {
		r.newRS = rs
		return nil
	}
	for i := range r.olds {
		if r.olds[i] == cur {
			r.olds[i] = rs
		}
	}
	return nil
}

// cleanup deletes the oldest old ReplicaSets beyond revisionHistoryLimit,
// among those scaled to 0 whose pods are all gone.
func (c *Controller) cleanup(ctx context.Context, r *rollout) error {
	limit := int(ptr.Deref(r.d.Spec.RevisionHistoryLimit, 10))
	excess := len(r.olds) - limit
	for _, rs := range r.olds {
		if excess <= 0 {
			break
		}
		if specReplicas(rs) != 0 || rs.Status.Replicas != 0 || rs.DeletionTimestamp != nil ||
			rs.Status.ObservedGeneration < rs.Generation || c.hasPods(rs) {
			continue
		}
		rv, err := parseRV(rs.ResourceVersion)
		if err != nil {
			return err
		}
		err = c.cfg.Writer.Delete(ctx, "ReplicaSet", rs.Namespace, rs.Name, storage.Preconditions{UID: string(rs.UID), ResourceVersion: rv})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting old replica set %s: %w", reconcile.Key(rs), err)
		}
		c.log.Info("deleted old replica set", "deployment", reconcile.Key(r.d), "replicaset", rs.Name, "revision", revision(rs))
		excess--
	}
	return nil
}
