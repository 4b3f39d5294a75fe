package deployment

import (
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition reasons.
const (
	ReasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	ReasonNewReplicaSetCreated       = "NewReplicaSetCreated"
	ReasonReplicaSetUpdated          = "ReplicaSetUpdated"
	ReasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	ReasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
	ReasonDeploymentPaused           = "DeploymentPaused"
)

// DefaultProgressDeadline applies when spec.progressDeadlineSeconds is
// unset (the API defaults it to the same).
const DefaultProgressDeadline = 600 * time.Second

// status computes the Deployment's status from its ReplicaSets. wait > 0
// is when the progress deadline passes and the key must be synced again.
func (c *Controller) status(r *rollout) (status appsv1.DeploymentStatus, wait time.Duration) {
	d := r.d
	now := metav1.NewTime(c.cfg.Clock.Now().UTC().Truncate(time.Second))
	status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		CollisionCount:     d.Status.CollisionCount,
		Conditions:         append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	for _, rs := range r.all() {
		status.Replicas += rs.Status.Replicas
		status.ReadyReplicas += rs.Status.ReadyReplicas
		status.AvailableReplicas += rs.Status.AvailableReplicas
	}
	if r.newRS != nil {
		status.UpdatedReplicas = r.newRS.Status.Replicas
	}
	want := desired(d)
	status.UnavailableReplicas = max(0, want-status.AvailableReplicas)

	_, unavailable := limits(d)
	if status.AvailableReplicas >= want-unavailable {
		status.Conditions = setCondition(status.Conditions, appsv1.DeploymentAvailable, corev1.ConditionTrue,
			ReasonMinimumReplicasAvailable, "Deployment has minimum availability.", now, false)
	} else {
		status.Conditions = setCondition(status.Conditions, appsv1.DeploymentAvailable, corev1.ConditionFalse,
			ReasonMinimumReplicasUnavailable, "Deployment does not have minimum availability.", now, false)
	}

	if d.DeletionTimestamp != nil {
		return status, 0
	}
	prog := appsv1.DeploymentProgressing
	switch {
	case d.Spec.Paused:
		status.Conditions = setCondition(status.Conditions, prog, corev1.ConditionUnknown,
			ReasonDeploymentPaused, "Deployment is paused", now, false)
	case complete(d, r.newRS, status):
		status.Conditions = setCondition(status.Conditions, prog, corev1.ConditionTrue,
			ReasonNewReplicaSetAvailable, fmt.Sprintf("ReplicaSet %q has successfully progressed.", r.newRS.Name), now, false)
	case r.created:
		status.Conditions = setCondition(status.Conditions, prog, corev1.ConditionTrue,
			ReasonNewReplicaSetCreated, fmt.Sprintf("Created new replica set %q", r.newRS.Name), now, true)
	case r.newRS != nil && progressed(d, status):
		status.Conditions = setCondition(status.Conditions, prog, corev1.ConditionTrue,
			ReasonReplicaSetUpdated, fmt.Sprintf("ReplicaSet %q is progressing.", r.newRS.Name), now, true)
	case r.newRS != nil:
		cond := condition(status.Conditions, prog)
		if cond == nil || cond.Status == corev1.ConditionFalse || cond.Reason == ReasonNewReplicaSetAvailable {
			break // already timed out, or complete before (a complete rollout does not time out)
		}
		deadline := DefaultProgressDeadline
		if s := d.Spec.ProgressDeadlineSeconds; s != nil {
			deadline = time.Duration(*s) * time.Second
		}
		at := cond.LastUpdateTime.Add(deadline)
		if left := at.Sub(c.cfg.Clock.Now()); left > 0 {
			wait = left
			break
		}
		status.Conditions = setCondition(status.Conditions, prog, corev1.ConditionFalse,
			ReasonProgressDeadlineExceeded, fmt.Sprintf("ReplicaSet %q has timed out progressing.", r.newRS.Name), now, false)
	}
	return status, wait
}

// complete: every pod runs the new template and is available.
func complete(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, s appsv1.DeploymentStatus) bool {
	want := desired(d)
	return newRS != nil && specReplicas(newRS) == want && s.UpdatedReplicas == want && s.Replicas == want &&
		s.AvailableReplicas >= want && newRS.Status.ObservedGeneration >= newRS.Generation
}

// progressed: since the last status, the spec changed, the rollout was
// resumed, or pods of the new template appeared, became ready or
// available, or old pods went away.
func progressed(d *appsv1.Deployment, s appsv1.DeploymentStatus) bool {
	old := d.Status
	if cond := condition(old.Conditions, appsv1.DeploymentProgressing); cond == nil || cond.Reason == ReasonDeploymentPaused {
		return true
	}
	return old.ObservedGeneration != s.ObservedGeneration || s.UpdatedReplicas > old.UpdatedReplicas ||
		s.ReadyReplicas > old.ReadyReplicas || s.AvailableReplicas > old.AvailableReplicas || s.Replicas < old.Replicas
}

func condition(conds []appsv1.DeploymentCondition, typ appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// setCondition sets a condition. Its lastTransitionTime moves when its
// status changes; its lastUpdateTime when anything about it changes, or
// always when touch says so (progress was made).
func setCondition(conds []appsv1.DeploymentCondition, typ appsv1.DeploymentConditionType, st corev1.ConditionStatus,
	reason, msg string, now metav1.Time, touch bool) []appsv1.DeploymentCondition {
	next := appsv1.DeploymentCondition{Type: typ, Status: st, Reason: reason, Message: msg, LastUpdateTime: now, LastTransitionTime: now}
	cur := condition(conds, typ)
	if cur == nil {
		return append(conds, next)
	}
	if cur.Status == st {
		next.LastTransitionTime = cur.LastTransitionTime
		if cur.Reason == reason && cur.Message == msg && !touch {
			next.LastUpdateTime = cur.LastUpdateTime
		}
	}
	*cur = next
	return conds
}

func parseRV(rv string) (uint64, error) {
	v, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("resourceVersion %q: %w", rv, err)
	}
	return v, nil
}
