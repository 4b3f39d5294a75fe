package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

// evict marks for deletion the pods of an unhealthy node whose time has
// come, and deletes for good those whose grace period ended (no agent
// finishes their deletion). The node comes back to the queue at the next
// such time.
func (c *Controller) evict(ctx context.Context, node *corev1.Node, h health, since, now time.Time) error {
	taint := corev1.Taint{Key: taintKey(h.ready), Effect: corev1.TaintEffectNoExecute}
	var due, expired []*corev1.Pod
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, p := range reconcile.As[*corev1.Pod](c.cfg.Pods.ByIndex(IndexNodeName, node.Name)) {
		if p.DeletionTimestamp != nil {
			c.unmark(p.UID) // the cache shows it
			at := p.DeletionTimestamp.Time
			if g := p.DeletionGracePeriodSeconds; g != nil && *g > 0 {
				at = at.Add(time.Duration(*g) * time.Second)
			}
			if now.Before(at) {
				later(at)
			} else {
				expired = append(expired, p)
			}
			continue
		}
		if c.isMarked(p.UID) {
			continue
		}
		at, ok := c.evictAt(p, &taint, since)
		if !ok {
			continue // tolerates the taint for ever
		}
		if now.Before(at) {
			later(at)
		} else {
			due = append(due, p)
		}
	}
	if !next.IsZero() {
		c.ctrl.Queue().AddAfter(node.Name, next.Sub(now))
	}
	if len(due)+len(expired) == 0 || c.checkPartition(ctx, now) {
		return nil // when paused, the periodic check comes back
	}
	var errs []error
	for _, p := range due {
		if !c.mark(p.UID) {
			continue // another sync of this node evicts it
		}
		err := c.cfg.Writer.Delete(ctx, "Pod", p.Namespace, p.Name, storage.Preconditions{UID: string(p.UID)})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			c.unmark(p.UID)
			errs = append(errs, fmt.Errorf("evicting pod %s: %w", reconcile.Key(p), err))
			continue
		}
		c.log.Info("evicting a pod from an unhealthy node", "pod", reconcile.Key(p), "node", node.Name, "ready", h.ready, "since", since)
		c.cfg.Recorder.Event(ctx, p, corev1.EventTypeNormal, EventNodeControllerEvict,
			fmt.Sprintf("Marking for deletion Pod %s from Node %s (Ready=%s since %s)", reconcile.Key(p), node.Name, h.ready, since.UTC().Format(time.RFC3339)))
	}
	for _, p := range expired {
		err := c.cfg.PodDeleter.DeletePodNow(ctx, p.Namespace, p.Name, p.UID)
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			continue // gone, or another pod by now
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("deleting pod %s: %w", reconcile.Key(p), err))
			continue
		}
		c.log.Info("deleted a pod of an unhealthy node after its grace period", "pod", reconcile.Key(p), "node", node.Name)
		c.cfg.Recorder.Event(ctx, p, corev1.EventTypeWarning, EventForceDeletedNodeLost,
			fmt.Sprintf("Node %s which was running pod %s is unresponsive", node.Name, reconcile.Key(p)))
	}
	return errors.Join(errs...)
}

// evictAt is when pod p is evicted from a node unhealthy since since:
// after the pod eviction timeout, or after the shortest tolerationSeconds
// of its tolerations of taint. ok is false when it tolerates taint for ever.
func (c *Controller) evictAt(p *corev1.Pod, taint *corev1.Taint, since time.Time) (at time.Time, ok bool) {
	tolerated := false
	var secs int64 = -1
	for i := range p.Spec.Tolerations {
		t := &p.Spec.Tolerations[i]
		if !tolerates(t, taint) {
			continue
		}
		tolerated = true
		if t.TolerationSeconds != nil && (secs < 0 || *t.TolerationSeconds < secs) {
			secs = max(*t.TolerationSeconds, 0)
		}
	}
	switch {
	case !tolerated:
		return since.Add(c.cfg.PodEvictionTimeout), true
	case secs < 0:
		return time.Time{}, false
	default:
		return since.Add(time.Duration(secs) * time.Second), true
	}
}

// tolerates reports whether toleration t matches taint.
func tolerates(t *corev1.Toleration, taint *corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	switch t.Operator {
	case corev1.TolerationOpExists:
		return t.Key == "" || t.Key == taint.Key
	case corev1.TolerationOpEqual, "":
		return t.Key == taint.Key && t.Value == taint.Value
	}
	return false
}

// mark records that pod uid is being evicted; false if it already was.
func (c *Controller) mark(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.marked[uid] {
		return false
	}
	c.marked[uid] = true
	return true
}

func (c *Controller) isMarked(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.marked[uid]
}

func (c *Controller) unmark(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.marked, uid)
}
