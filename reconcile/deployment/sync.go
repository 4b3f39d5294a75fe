package deployment

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/skiffhq/skiff/reconcile"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Event reasons.
const (
	ReasonScalingReplicaSet = "ScalingReplicaSet"
)

// ErrHashCollision: a ReplicaSet of the new template's name exists with
// another template; the Deployment's status.collisionCount is raised so
// that the next sync picks another name.
var ErrHashCollision = errors.New("pod-template-hash collision")

// rollout is what one sync knows of a Deployment and its ReplicaSets. The
// steps replace the ReplicaSets they write with what the write returned.
type rollout struct {
	d *appsv1.Deployment
	// newRS runs the Deployment's template; nil until created (and while
	// paused, if it was never created).
	newRS *appsv1.ReplicaSet
	// olds are the other ReplicaSets, oldest first.
	olds []*appsv1.ReplicaSet
	// created: newRS was created by this sync.
	created bool
}

func (r *rollout) all() []*appsv1.ReplicaSet {
	if r.newRS == nil {
		return r.olds
	}
	return append(append([]*appsv1.ReplicaSet{}, r.olds...), r.newRS)
}

// sync brings one Deployment's ReplicaSets one step closer to its spec and
// its status to its ReplicaSets.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.cfg.Deployments.Get(ns, name)
	if !ok {
		return nil
	}
	d := obj.(*appsv1.Deployment)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		// Validation refuses both; an empty selector would claim every
		// ReplicaSet of the namespace.
		c.log.Warn("Deployment without a usable selector; ignored", "deployment", key, "err", err)
		return nil
	}
	rss, err := c.claim(ctx, d, sel)
	if err != nil {
		return err
	}
	r := &rollout{d: d}
	for _, rs := range rss {
		if r.newRS == nil && sameTemplate(rs, d) {
			r.newRS = rs
			continue
		}
		r.olds = append(r.olds, rs)
	}
	byAge(r.olds)
	if d.DeletionTimestamp == nil {
		if err := c.step(ctx, r); err != nil {
			if errors.Is(err, ErrHashCollision) {
				return c.writeStatus(ctx, r, collided(d))
			}
			return err
		}
	}
	return c.writeStatus(ctx, r, nil)
}

// step runs one step of the rollout, then the history cleanup.
func (c *Controller) step(ctx context.Context, r *rollout) error {
	var err error
	if !r.d.Spec.Paused {
		if err = c.ensureNew(ctx, r); err != nil {
			return err
		}
	}
	if err = c.syncRevision(ctx, r); err != nil {
		return err
	}
	switch {
	case r.d.Spec.Paused:
		err = c.scalePaused(ctx, r)
	case r.d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType:
		err = c.recreate(ctx, r)
	default:
		err = c.rollingUpdate(ctx, r)
	}
	if err != nil {
		return err
	}
	return c.cleanup(ctx, r)
}

func collided(d *appsv1.Deployment) *int32 {
	n := int32(1)
	if d.Status.CollisionCount != nil {
		n = *d.Status.CollisionCount + 1
	}
	return &n
}

// claim returns the ReplicaSets d controls and that match its selector:
// it releases the ones it controls that no longer match and adopts the
// orphans of its namespace that do.
func (c *Controller) claim(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	var out []*appsv1.ReplicaSet
	var errs []error
	for _, rs := range reconcile.As[*appsv1.ReplicaSet](c.cfg.ReplicaSets.ByIndex(reconcile.IndexControllerUID, string(d.UID))) {
		if rs.Namespace != d.Namespace {
			continue
		}
		if sel.Matches(labels.Set(rs.Labels)) {
			out = append(out, rs)
			continue
		}
		if rs.DeletionTimestamp != nil {
			continue
		}
		if err := c.release(ctx, d, rs); err != nil {
			errs = append(errs, err)
		}
	}
	if d.DeletionTimestamp != nil {
		return out, errors.Join(errs...)
	}
	for _, rs := range reconcile.As[*appsv1.ReplicaSet](c.cfg.ReplicaSets.ByIndex(reconcile.IndexControllerUID, reconcile.OrphanIndexValue(d.Namespace))) {
		if rs.DeletionTimestamp != nil || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		next := rs.DeepCopy()
		next.OwnerReferences = append(next.OwnerReferences, *metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment")))
		adopted, err := c.cfg.Writer.Update(ctx, "ReplicaSet", next)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("adopting replica set %s: %w", reconcile.Key(rs), err))
			continue
		}
		c.log.Info("adopted replica set", "deployment", reconcile.Key(d), "replicaset", rs.Name)
		out = append(out, adopted.(*appsv1.ReplicaSet))
	}
	return out, errors.Join(errs...)
}

// release removes d's ownerReference from a ReplicaSet that no longer
// matches.
func (c *Controller) release(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet) error {
	next := rs.DeepCopy()
	next.OwnerReferences = nil
	for _, ref := range rs.OwnerReferences {
		if ref.UID != d.UID {
			next.OwnerReferences = append(next.OwnerReferences, ref)
		}
	}
	_, err := c.cfg.Writer.Update(ctx, "ReplicaSet", next)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("releasing replica set %s: %w", reconcile.Key(rs), err)
	}
	c.log.Info("released replica set", "deployment", reconcile.Key(d), "replicaset", rs.Name)
	return nil
}

// ensureNew creates the ReplicaSet of the Deployment's template when there
// is none, with as many replicas as the strategy allows at once.
func (c *Controller) ensureNew(ctx context.Context, r *rollout) error {
	if r.newRS != nil {
		return nil
	}
	d := r.d
	hash := templateHash(&d.Spec.Template, d.Status.CollisionCount)
	name := rsName(d, hash)
	if _, taken := c.cfg.ReplicaSets.Get(d.Namespace, name); taken {
		// Not ours with this template (that one would be newRS).
		return fmt.Errorf("%w: replica set %s/%s exists with another template", ErrHashCollision, d.Namespace, name)
	}
	var replicas int32
	var oldPods int32
	for _, rs := range r.olds {
		oldPods += podsOf(rs)
	}
	want := desired(d)
	switch {
	case oldPods == 0:
		replicas = want
	case d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType:
		replicas = 0
	default:
		surge, _ := limits(d)
		replicas = max(0, min(want, want+surge-oldPods))
	}
	rs := newReplicaSet(d, hash, maxRevision(r.olds)+1, replicas)
	obj, err := c.cfg.Writer.Create(ctx, "ReplicaSet", rs)
	if err != nil {
		// AlreadyExists: the cache does not show it yet; its add event
		// brings the Deployment back.
		return fmt.Errorf("creating replica set %s/%s: %w", d.Namespace, name, err)
	}
	r.newRS, r.created = obj.(*appsv1.ReplicaSet), true
	c.log.Info("created replica set", "deployment", reconcile.Key(d), "replicaset", name, "replicas", replicas)
	if replicas > 0 {
		c.cfg.Recorder.Event(ctx, d, "Normal", ReasonScalingReplicaSet, fmt.Sprintf("Scaled up replica set %s to %d", name, replicas))
	}
	return nil
}

// syncRevision makes the new ReplicaSet the newest revision (a rollback
// to an old template renumbers its ReplicaSet), keeps its minReadySeconds
// the Deployment's, and writes its revision on the Deployment.
func (c *Controller) syncRevision(ctx context.Context, r *rollout) error {
	if r.newRS == nil {
		return nil
	}
	rs := r.newRS
	rev := revision(rs)
	if top := maxRevision(r.olds); rev <= top {
		rev = top + 1
	}
	want := strconv.FormatInt(rev, 10)
	cause, hasCause := r.d.Annotations[AnnotationChangeCause]
	if rs.Annotations[AnnotationRevision] != want || rs.Spec.MinReadySeconds != r.d.Spec.MinReadySeconds ||
		(hasCause && rs.Annotations[AnnotationChangeCause] != cause) {
		next := rs.DeepCopy()
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[AnnotationRevision] = want
		if hasCause {
			next.Annotations[AnnotationChangeCause] = cause
		}
		next.Spec.MinReadySeconds = r.d.Spec.MinReadySeconds
		obj, err := c.cfg.Writer.Update(ctx, "ReplicaSet", next)
		if err != nil {
			return fmt.Errorf("updating replica set %s: %w", reconcile.Key(rs), err)
		}
		r.newRS = obj.(*appsv1.ReplicaSet)
	}
	if r.d.Annotations[AnnotationRevision] != want {
		next := r.d.DeepCopy()
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[AnnotationRevision] = want
		obj, err := c.cfg.Writer.Update(ctx, "Deployment", next)
		if err != nil {
			return fmt.Errorf("updating the revision of %s: %w", reconcile.Key(r.d), err)
		}
		r.d = obj.(*appsv1.Deployment)
	}
	return nil
}

// writeStatus writes the status computed from the ReplicaSets when it
// changed; collisions, when set, replaces status.collisionCount.
func (c *Controller) writeStatus(ctx context.Context, r *rollout, collisions *int32) error {
	status, wait := c.status(r)
	if collisions != nil {
		status.CollisionCount = collisions
	}
	key := reconcile.Key(r.d)
	if !equality.Semantic.DeepEqual(r.d.Status, status) {
		next := r.d.DeepCopy()
		next.Status = status
		if _, err := c.cfg.Writer.UpdateStatus(ctx, "Deployment", next); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("updating the status of %s: %w", key, err)
		}
	}
	if wait > 0 {
		c.ctrl.Queue().AddAfter(key, wait)
	}
	return nil
}
