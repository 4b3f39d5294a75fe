package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// Event reasons.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedDelete     = "FailedDelete"
)

// sync brings one ReplicaSet's pods to its spec and its status to its pods.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.cfg.ReplicaSets.Get(ns, name)
	if !ok {
		c.exp.Forget(key)
		c.mu.Lock()
		delete(c.proven, key)
		c.mu.Unlock()
		return nil
	}
	rs := obj.(*appsv1.ReplicaSet)
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil || sel.Empty() {
		// Validation refuses both; an empty selector would claim the
		// whole namespace.
		c.log.Warn("ReplicaSet without a usable selector; ignored", "replicaset", key, "err", err)
		return nil
	}
	// Read the expectations before the pods: one lowered in between would
	// otherwise let this sync count from a list that lacks the pod.
	satisfied := c.exp.Satisfied(key)
	pods, err := c.claim(ctx, rs, sel)
	if err != nil {
		return err
	}
	active := activePods(pods)

	managed := satisfied && rs.DeletionTimestamp == nil
	var failure *manageError
	if managed {
		failure = c.manage(ctx, rs, key, active)
	}
	status, wait := c.status(rs, active, managed, failure)
	var statusErr error
	if !equality.Semantic.DeepEqual(rs.Status, status) {
		next := rs.DeepCopy()
		next.Status = status
		if _, err := c.cfg.Writer.UpdateStatus(ctx, "ReplicaSet", next); err != nil && !apierrors.IsNotFound(err) {
			statusErr = fmt.Errorf("updating the status of %s: %w", key, err)
		}
	}
	if wait > 0 {
		c.ctrl.Queue().AddAfter(key, wait)
	}
	if failure != nil {
		return errors.Join(failure, statusErr)
	}
	return statusErr
}

// claim returns the pods rs controls and that match its selector: it
// releases the ones it controls that no longer match and adopts the
// orphans of its namespace that do.
func (c *Controller) claim(ctx context.Context, rs *appsv1.ReplicaSet, sel labels.Selector) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	var errs []error
	for _, pod := range reconcile.As[*corev1.Pod](c.cfg.Pods.ByIndex(reconcile.IndexControllerUID, string(rs.UID))) {
		if pod.Namespace != rs.Namespace {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, pod)
			continue
		}
		if pod.DeletionTimestamp != nil {
			continue
		}
		if err := c.release(ctx, rs, pod); err != nil {
			errs = append(errs, err)
		}
	}
	if rs.DeletionTimestamp != nil {
		return out, errors.Join(errs...)
	}
	for _, pod := range reconcile.As[*corev1.Pod](c.cfg.Pods.ByIndex(reconcile.IndexControllerUID, reconcile.OrphanIndexValue(rs.Namespace))) {
		if pod.DeletionTimestamp != nil || !isActive(pod) || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		adopted, err := c.adopt(ctx, rs, pod)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if adopted != nil {
			out = append(out, adopted)
		}
	}
	return out, errors.Join(errs...)
}

// adopt makes rs the controller of an orphan pod, if the pod is unchanged
// since the cache saw it.
func (c *Controller) adopt(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) (*corev1.Pod, error) {
	next := pod.DeepCopy()
	next.OwnerReferences = append(next.OwnerReferences, *metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet")))
	obj, err := c.cfg.Writer.Update(ctx, "Pod", next)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("adopting pod %s: %w", reconcile.Key(pod), err)
	}
	c.log.Info("adopted pod", "replicaset", reconcile.Key(rs), "pod", pod.Name)
	return obj.(*corev1.Pod), nil
}

// release removes rs's ownerReference from a pod that no longer matches.
func (c *Controller) release(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	next := pod.DeepCopy()
	next.OwnerReferences = nil
	for _, ref := range pod.OwnerReferences {
		if ref.UID != rs.UID {
			next.OwnerReferences = append(next.OwnerReferences, ref)
		}
	}
	_, err := c.cfg.Writer.Update(ctx, "Pod", next)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("releasing pod %s: %w", reconcile.Key(pod), err)
	}
	c.log.Info("released pod", "replicaset", reconcile.Key(rs), "pod", pod.Name)
	return nil
}

// manageError is a failed scale step; its reason goes into the
// ReplicaFailure condition.
type manageError struct {
	reason string
	err    error
}

func (e *manageError) Error() string { return e.err.Error() }
func (e *manageError) Unwrap() error { return e.err }

// manage creates or deletes pods so that active has spec.replicas pods,
// at most Burst per sync.
func (c *Controller) manage(ctx context.Context, rs *appsv1.ReplicaSet, key string, active []*corev1.Pod) *manageError {
	diff := len(active) - int(ptr.Deref(rs.Spec.Replicas, 1))
	switch {
	case diff < 0:
		if err := c.createPods(ctx, rs, key, min(-diff, c.cfg.Burst)); err != nil {
			return &manageError{ReasonFailedCreate, err}
		}
	case diff > 0:
		if err := c.deletePods(ctx, rs, key, toDelete(active, min(diff, c.cfg.Burst))); err != nil {
			return &manageError{ReasonFailedDelete, err}
		}
	}
	return nil
}

// maxProvenStart caps the first batch of a sync.
const maxProvenStart = 64

// createPods creates n pods in batches of 1, 2, 4, ... so that a cause
// that fails every create (a terminating namespace, an invalid template)
// costs one write, not n. A ReplicaSet whose last batch all succeeded
// starts at that batch's size.
func (c *Controller) createPods(ctx context.Context, rs *appsv1.ReplicaSet, key string, n int) error {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = reconcile.JoinKey(rs.Namespace, podName(rs, c.cfg.NameSuffix()))
	}
	c.exp.ExpectCreations(key, keys...)
	c.mu.Lock()
	// Capped: a new cause that fails every create (a namespace being
	// deleted) then costs at most this many failed writes, not Burst.
	start := min(max(c.proven[key], 1), maxProvenStart)
	c.mu.Unlock()
	done := 0
	for size := start; done < n; size *= 2 {
		batch := keys[done:min(done+size, n)]
		done += len(batch)
		errs := c.parallel(batch, func(podKey string) error {
			_, name := reconcile.SplitKey(podKey)
			if _, err := c.cfg.Writer.Create(ctx, "Pod", newPod(rs, name)); err != nil {
				c.exp.CreationObserved(key, podKey) // it will never show
				c.cfg.Recorder.Event(ctx, rs, corev1.EventTypeWarning, ReasonFailedCreate, fmt.Sprintf("Error creating: %v", err))
				return err
			}
			c.cfg.Recorder.Event(ctx, rs, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: "+name)
			return nil
		})
		c.mu.Lock()
		if len(errs) > 0 {
			delete(c.proven, key)
		} else {
			if c.proven == nil {
				c.proven = map[string]int{}
			}
			c.proven[key] = max(c.proven[key], len(batch))
		}
		c.mu.Unlock()
		if len(errs) > 0 {
			for _, skipped := range keys[done:] {
				c.exp.CreationObserved(key, skipped)
			}
			return fmt.Errorf("%d of %d pod creations failed: %w", len(errs), len(batch), errs[0])
		}
	}
	c.log.Debug("created pods", "replicaset", key, "count", n)
	return nil
}

// deletePods deletes the pods given, each only if it is still the pod the
// cache saw (same UID).
func (c *Controller) deletePods(ctx context.Context, rs *appsv1.ReplicaSet, key string, pods []*corev1.Pod) error {
	byKey := make(map[string]*corev1.Pod, len(pods))
	keys := make([]string, 0, len(pods))
	for _, p := range pods {
		k := reconcile.Key(p)
		byKey[k] = p
		keys = append(keys, k)
	}
	c.exp.ExpectDeletions(key, keys...)
	errs := c.parallel(keys, func(podKey string) error {
		pod := byKey[podKey]
		err := c.cfg.Writer.Delete(ctx, "Pod", pod.Namespace, pod.Name, storage.Preconditions{UID: string(pod.UID)})
		if err != nil {
			c.exp.DeletionObserved(key, podKey) // no change will show
			if apierrors.IsNotFound(err) {
				return nil
			}
			c.cfg.Recorder.Event(ctx, rs, corev1.EventTypeWarning, ReasonFailedDelete, fmt.Sprintf("Error deleting pod %s: %v", pod.Name, err))
			return err
		}
		c.cfg.Recorder.Event(ctx, rs, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: "+pod.Name)
		return nil
	})
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d pod deletions failed: %w", len(errs), len(pods), errs[0])
	}
	return nil
}

// parallel runs fn for every key at once and returns the errors.
func (c *Controller) parallel(keys []string, fn func(key string) error) []error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(k); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// status computes rs's status from its active pods. wait > 0 is when a
// ready pod becomes available and the status must be computed again.
func (c *Controller) status(rs *appsv1.ReplicaSet, active []*corev1.Pod, managed bool, failure *manageError) (status appsv1.ReplicaSetStatus, wait time.Duration) {
	now := c.cfg.Clock.Now()
	minReady := time.Duration(rs.Spec.MinReadySeconds) * time.Second
	template := labels.SelectorFromSet(rs.Spec.Template.Labels)
	status = appsv1.ReplicaSetStatus{
		Replicas:           int32(len(active)),
		ObservedGeneration: rs.Generation,
		Conditions:         rs.Status.Conditions,
	}
	for _, pod := range active {
		if template.Matches(labels.Set(pod.Labels)) {
			status.FullyLabeledReplicas++
		}
		if ready, _ := readySince(pod); ready {
			status.ReadyReplicas++
		}
		available, in := availableIn(pod, minReady, now)
		if available {
			status.AvailableReplicas++
		} else if in > 0 && (wait == 0 || in < wait) {
			wait = in
		}
	}
	switch {
	case failure != nil:
		status.Conditions = setFailure(status.Conditions, failure, now)
	case managed:
		status.Conditions = clearFailure(status.Conditions)
	}
	return status, wait
}

// setFailure sets the ReplicaFailure condition. A condition already there
// for the same reason is kept as it is: the message of a failure often
// names the random pod it was creating, and rewriting it on every failed
// sync would make each sync's status write wake the next sync at once,
// bypassing the queue's backoff.
func setFailure(conds []appsv1.ReplicaSetCondition, failure *manageError, now time.Time) []appsv1.ReplicaSetCondition {
	out := make([]appsv1.ReplicaSetCondition, 0, len(conds)+1)
	for _, c := range conds {
		if c.Type != appsv1.ReplicaSetReplicaFailure {
			out = append(out, c)
			continue
		}
		if c.Status == corev1.ConditionTrue && c.Reason == failure.reason {
			return conds
		}
	}
	return append(out, appsv1.ReplicaSetCondition{
		Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
		Reason: failure.reason, Message: failure.Error(), LastTransitionTime: metav1.NewTime(now.UTC().Truncate(time.Second)),
	})
}

func clearFailure(conds []appsv1.ReplicaSetCondition) []appsv1.ReplicaSetCondition {
	var out []appsv1.ReplicaSetCondition
	for _, c := range conds {
		if c.Type != appsv1.ReplicaSetReplicaFailure {
			out = append(out, c)
		}
	}
	return out
}
