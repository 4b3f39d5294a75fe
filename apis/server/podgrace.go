package server

import (
	"context"

	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// defaultGrace is a pod's terminationGracePeriodSeconds when it sets none.
const defaultGrace = 30

// gracefulDelete marks a pod bound to a node for deletion instead of
// removing it: the node's agent stops its containers (preStop, SIGTERM,
// the grace period, SIGKILL), releases what it held, then deletes it for
// good. handled is false when the pod should go at once: not bound to a
// node, finished, already marked, or deleted with gracePeriodSeconds 0.
func (s *Server) gracefulDelete(ctx context.Context, t *target, opts metav1.DeleteOptions, pre storage.Preconditions) (rec storage.Record, handled bool, err error) {
	if t.res.Kind != "Pod" || t.subresource != "" {
		return nil, false, nil
	}
	cur, err := s.store.Get(ctx, t.res, t.namespace, t.name, false)
	if err != nil {
		return nil, false, err
	}
	pod := cur.Object().(*corev1.Pod).DeepCopy()
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil ||
		pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil, false, nil
	}
	if pre.UID != "" && string(pod.UID) != pre.UID {
		return nil, false, nil // the store refuses it with the usual conflict
	}
	grace := int64(defaultGrace)
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if grace <= 0 {
		return nil, false, nil
	}
	rv, _ := parseRV(pod.ResourceVersion)
	if pre.ResourceVersion != 0 && pre.ResourceVersion != rv {
		return nil, false, nil
	}
	now := metav1.NewTime(s.cfg.Now().UTC().Truncate(1e9))
	pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &now, &grace
	rec, err = s.store.Update(ctx, t.res, pod, rv)
	return rec, true, err
}
