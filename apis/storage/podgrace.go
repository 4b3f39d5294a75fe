package storage

import (
	"context"
	"strconv"
	"time"

	"github.com/skiffhq/skiff/apis/resources"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultPodGracePeriod is a pod's terminationGracePeriodSeconds when it
// sets none, as in Kubernetes.
const DefaultPodGracePeriod = 30

// PodDeletion is what a delete of a pod should do.
type PodDeletion int

// What MarkPodForDeletion did.
const (
	// DeleteNow: remove the pod at once (not bound to a node, finished,
	// grace 0, or preconditions that the store will refuse).
	DeleteNow PodDeletion = iota
	// Marked: deletionTimestamp set; the node's agent stops the pod, then
	// removes it.
	Marked
	// AlreadyMarked: a graceful deletion is under way.
	AlreadyMarked
)

// MarkPodForDeletion starts the graceful deletion of a pod bound to a node,
// the one rule the API and the leader's controllers share: its agent runs
// preStop, sends SIGTERM, waits the grace period, sends SIGKILL, releases
// what the pod held, and then deletes it for good. grace, when not nil,
// replaces the pod's own terminationGracePeriodSeconds.
func MarkPodForDeletion(ctx context.Context, s Store, res *resources.Resource, namespace, name string, pre Preconditions,
	grace *int64, now time.Time) (Record, PodDeletion, error) {
	for attempt := 1; ; attempt++ {
		rec, did, err := markPodForDeletion(ctx, s, res, namespace, name, pre, grace, now)
		// A write in between (the agent reporting status) is no reason
		// to fail a delete that named no resourceVersion: mark the pod
		// as it is now.
		if did == Marked && apierrors.IsConflict(err) && pre.ResourceVersion == 0 && attempt < markAttempts {
			continue
		}
		return rec, did, err
	}
}

// markAttempts bounds MarkPodForDeletion's tries against concurrent writes.
const markAttempts = 5

func markPodForDeletion(ctx context.Context, s Store, res *resources.Resource, namespace, name string, pre Preconditions,
	grace *int64, now time.Time) (Record, PodDeletion, error) {
	cur, err := s.Get(ctx, res, namespace, name, false)
	if err != nil {
		return nil, DeleteNow, err
	}
	pod := cur.Object().(*corev1.Pod)
	rv, _ := strconv.ParseUint(pod.ResourceVersion, 10, 64)
	if pre.UID != "" && string(pod.UID) != pre.UID || pre.ResourceVersion != 0 && pre.ResourceVersion != rv {
		return nil, DeleteNow, nil // the store refuses it with its usual conflict
	}
	if pod.DeletionTimestamp != nil {
		return cur, AlreadyMarked, nil
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil, DeleteNow, nil
	}
	g := int64(DefaultPodGracePeriod)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *pod.Spec.TerminationGracePeriodSeconds
	}
	if grace != nil {
		g = *grace
	}
	if g <= 0 {
		return nil, DeleteNow, nil
	}
	pod = pod.DeepCopy()
	at := metav1.NewTime(now.UTC().Truncate(time.Second))
	pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &at, &g
	pod.ResourceVersion = ""
	rec, err := s.Update(ctx, res, pod, rv)
	return rec, Marked, err
}
