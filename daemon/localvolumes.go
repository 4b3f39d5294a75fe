package daemon

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/skiffhq/skiff/agent/volumes"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// reclaimLocalVolumes finishes the deletion of this node's local-path
// volumes: when the volume controller (reclaim policy Delete) or a user
// deletes one, the volume waits on its cleanup finalizer until this agent
// has removed the directory (kept under Retain), then the finalizer.
// Level-triggered: a volume marked while the agent was down is handled
// when it comes back.
func reclaimLocalVolumes(ctx context.Context, api *client.Client, node string, log *slog.Logger) {
	log = log.With("component", "local-path")
	inf := client.NewInformer(api, resourceOf(api, "PersistentVolume"), client.ListOptions{LabelSelector: apis.LabelVolumeNode + "=" + node}, log)
	kick := make(chan struct{}, 1)
	poke := func(apis.Object) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	inf.AddHandler(client.Handler{OnAdd: poke, OnUpdate: func(_, o apis.Object) { poke(o) }})
	go inf.Run(ctx)
	select {
	case <-inf.Synced():
	case <-ctx.Done():
		return
	}
	retry := time.NewTicker(30 * time.Second)
	defer retry.Stop()
	for {
		for _, o := range inf.List() {
			pv := o.(*corev1.PersistentVolume)
			// Only once no claim holds it: the volume controller lifts
			// pv-protection when the volume is not bound any more.
			if pv.DeletionTimestamp == nil || !slices.Contains(pv.Finalizers, apis.FinalizerLocalPathCleanup) ||
				slices.Contains(pv.Finalizers, apis.FinalizerVolumeProtection) {
				continue
			}
			if err := reclaimLocalVolume(ctx, api, pv, log); err != nil && ctx.Err() == nil {
				log.Warn("reclaiming a local volume; retrying", "volume", pv.Name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-retry.C:
		}
	}
}

func reclaimLocalVolume(ctx context.Context, api *client.Client, pv *corev1.PersistentVolume, log *slog.Logger) error {
	if pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
		dir, err := volumes.LocalPathDir(pv)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		log.Info("local-path volume removed", "volume", pv.Name, "path", dir)
	} else {
		log.Info("local-path volume deleted; its directory is kept (reclaim policy Retain)", "volume", pv.Name)
	}
	next := pv.DeepCopy()
	next.Finalizers = slices.DeleteFunc(next.Finalizers, func(f string) bool { return f == apis.FinalizerLocalPathCleanup })
	next.APIVersion, next.Kind = "v1", "PersistentVolume"
	if _, err := api.Update(ctx, next); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
