package server

import (
	"context"
	"fmt"
	"slices"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// admitClaim prepares a new claim as Kubernetes' admission does: a claim
// that names no class gets the default one (DefaultStorageClass), and
// every claim gets the protection finalizer that keeps it while a pod
// uses it. A class that does not exist is not an error (it may be created
// later, and the claim then binds) but the user is told at once.
func (s *Server) admitClaim(ctx context.Context, c *corev1.PersistentVolumeClaim) ([]string, error) {
	if !slices.Contains(c.Finalizers, apis.FinalizerClaimProtection) {
		c.Finalizers = append(c.Finalizers, apis.FinalizerClaimProtection)
	}
	if c.Spec.StorageClassName != nil && *c.Spec.StorageClassName == "" {
		return nil, nil // explicitly no class: binds to a volume without one
	}
	res, _ := s.reg.ByKind("StorageClass")
	l, err := s.store.List(ctx, res, storage.ListOptions{Stale: true})
	if err != nil {
		return nil, err
	}
	var def []string
	for _, rec := range l.Items {
		sc := rec.Object().(*storagev1.StorageClass)
		if c.Spec.StorageClassName != nil && sc.Name == *c.Spec.StorageClassName {
			return nil, nil
		}
		if apis.IsDefaultClass(sc) {
			def = append(def, sc.Name)
		}
	}
	if c.Spec.StorageClassName != nil {
		return []string{fmt.Sprintf("spec.storageClassName: storage class %q does not exist: the claim stays Pending until it is created", *c.Spec.StorageClassName)}, nil
	}
	switch len(def) {
	case 0:
		return []string{"spec.storageClassName: the claim names no class and the cluster has no default one: it binds only to a volume without a class"}, nil
	case 1:
		c.Spec.StorageClassName = &def[0]
		return nil, nil
	}
	// Kubernetes picks the newest of several defaults; skiff asks.
	slices.Sort(def)
	return []string{fmt.Sprintf("spec.storageClassName: several classes are marked default (%v); the claim gets none: name one", def)}, nil
}
