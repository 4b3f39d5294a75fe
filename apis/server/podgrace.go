package server

import (
	"context"

	"github.com/skiffhq/skiff/apis/storage"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// gracefulDelete marks a pod bound to a node for deletion instead of
// removing it (storage.MarkPodForDeletion). handled is false when the pod
// should go at once: not bound to a node, finished, deleted with
// gracePeriodSeconds 0, or already marked — a second delete, the agent's
// last step once the pod has stopped, removes it.
func (s *Server) gracefulDelete(ctx context.Context, t *target, opts metav1.DeleteOptions, pre storage.Preconditions) (storage.Record, bool, error) {
	if t.res.Kind != "Pod" || t.subresource != "" {
		return nil, false, nil
	}
	rec, did, err := storage.MarkPodForDeletion(ctx, s.store, t.res, t.namespace, t.name, pre, opts.GracePeriodSeconds, s.cfg.Now())
	return rec, did == storage.Marked, err
}
