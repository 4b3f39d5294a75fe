package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

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
			if pv.DeletionTimestamp == nil || !slices.Contains(pv.Finalizers, apis.FinalizerLocalPathCleanup) {
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
		dir, err := localPathDir(pv)
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

// localPathDir returns the directory of a provisioned volume, refusing
// anything that is not a provisioner-made "pvc-..." directory: the agent
// removes trees as root and a volume's path is data from the API.
func localPathDir(pv *corev1.PersistentVolume) (string, error) {
	if pv.Spec.Local == nil || pv.Annotations[apis.AnnotationProvisionedBy] != apis.LocalPathProvisioner {
		return "", errors.New("not a local-path volume")
	}
	p := pv.Spec.Local.Path
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || !strings.HasPrefix(filepath.Base(p), pv.Name+"_") {
		return "", fmt.Errorf("path %q is not a local-path directory of volume %s", p, pv.Name)
	}
	return p, nil
}
