package volume

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/scheduling"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// syncClaim brings one claim forward: protected while used, bound to its
// volume, or given one (a matching free volume, else a provisioned one).
func (c *Controller) syncClaim(ctx context.Context, key string) error {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.cfg.Claims.Get(ns, name)
	if !ok {
		return nil // its volume's sync releases the volume
	}
	pvc := obj.(*corev1.PersistentVolumeClaim)
	if pvc.DeletionTimestamp != nil {
		return c.unprotect(ctx, pvc)
	}
	if pvc.Spec.VolumeName != "" {
		return c.syncBoundClaim(ctx, pvc)
	}
	// A volume reserved for this claim (provisioned, or its claimRef
	// written before a crash): name it.
	for _, v := range c.cfg.Volumes.ByIndex(indexClaim, key) {
		if pv := v.(*corev1.PersistentVolume); pv.Spec.ClaimRef.UID == pvc.UID && pv.DeletionTimestamp == nil {
			return c.nameVolume(ctx, pvc, pv)
		}
	}
	cls := apis.ClaimClass(pvc)
	var sc *storagev1.StorageClass
	if cls != "" {
		o, ok := c.cfg.Classes.Get("", cls)
		if !ok {
			c.cfg.Recorder.Event(ctx, pvc, corev1.EventTypeWarning, "ProvisioningFailed",
				fmt.Sprintf("storageclass.storage.k8s.io %q not found", cls))
			return nil // the class's creation brings it back
		}
		sc = o.(*storagev1.StorageClass)
	}
	// A class that binds on first consumer waits for the node the
	// scheduler chose, then takes a free volume only if it can be
	// reached from there.
	node := pvc.Annotations[apis.AnnotationSelectedNode]
	waits := sc != nil && apis.WaitsForFirstConsumer(sc)
	if !waits || node != "" {
		if pv := c.matchingVolume(pvc, node); pv != nil {
			return c.reserve(ctx, pvc, pv)
		}
	}
	switch {
	case sc == nil:
		c.cfg.Recorder.Event(ctx, pvc, corev1.EventTypeNormal, "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
		return nil
	case sc.Provisioner != apis.LocalPathProvisioner:
		c.cfg.Recorder.Event(ctx, pvc, corev1.EventTypeNormal, "ExternalProvisioning",
			fmt.Sprintf("waiting for a volume to be created by the external provisioner %q: skiff provisions only %q", sc.Provisioner, apis.LocalPathProvisioner))
		return nil
	}
	if node == "" {
		c.cfg.Recorder.Event(ctx, pvc, corev1.EventTypeNormal, "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
		return nil
	}
	return c.provision(ctx, pvc, sc, node)
}

// unprotect removes the protection finalizer of a claim being deleted
// once no unfinished pod uses it.
func (c *Controller) unprotect(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if !slices.Contains(pvc.Finalizers, apis.FinalizerClaimProtection) {
		return nil
	}
	for _, o := range c.cfg.Pods.ByIndex(indexClaim, reconcile.Key(pvc)) {
		// A pod not yet on a node never will be (the scheduler refuses a
		// claim being deleted): only pods on nodes hold the claim.
		if pod := o.(*corev1.Pod); pod.Spec.NodeName != "" && podUsesClaims(pod) {
			return nil // the pod's end brings the claim back
		}
	}
	next := pvc.DeepCopy()
	next.Finalizers = slices.DeleteFunc(next.Finalizers, func(f string) bool { return f == apis.FinalizerClaimProtection })
	if _, err := c.cfg.Writer.Update(ctx, "PersistentVolumeClaim", next); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing the protection of claim %s: %w", reconcile.Key(pvc), err)
	}
	return nil
}

// syncBoundClaim keeps a claim's status as its volume says: Bound, or
// Lost when the volume is gone or belongs to another claim.
func (c *Controller) syncBoundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	o, ok := c.cfg.Volumes.Get("", pvc.Spec.VolumeName)
	if !ok {
		return c.claimLost(ctx, pvc, fmt.Sprintf("bound claim has lost its volume %s: it does not exist", pvc.Spec.VolumeName))
	}
	pv := o.(*corev1.PersistentVolume)
	switch ref := pv.Spec.ClaimRef; {
	case ref == nil:
		// Named by the claim, not yet reserved (a volume pre-bound by
		// its claim): reserve it, unless someone else holds it.
		return c.reserve(ctx, pvc, pv)
	case ref.Namespace != pvc.Namespace || ref.Name != pvc.Name || ref.UID != "" && ref.UID != pvc.UID:
		return c.claimLost(ctx, pvc, fmt.Sprintf("bound claim has lost its volume %s: it is bound to another claim", pv.Name))
	}
	return c.markBound(ctx, pvc, pv)
}

// markBound sets a claim's status from the volume it is bound to (given,
// not read from the cache, which may not show a volume just written).
func (c *Controller) markBound(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	want := corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: pv.Spec.AccessModes, Capacity: pv.Spec.Capacity}
	if equality.Semantic.DeepEqual(pvc.Status, want) {
		return nil
	}
	next := pvc.DeepCopy()
	next.Status = want
	if _, err := c.cfg.Writer.UpdateStatus(ctx, "PersistentVolumeClaim", next); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("marking claim %s bound: %w", reconcile.Key(pvc), err)
	}
	return nil
}

func (c *Controller) claimLost(ctx context.Context, pvc *corev1.PersistentVolumeClaim, msg string) error {
	if pvc.Status.Phase == corev1.ClaimLost {
		return nil
	}
	c.cfg.Recorder.Event(ctx, pvc, corev1.EventTypeWarning, "ClaimLost", msg)
	next := pvc.DeepCopy()
	next.Status.Phase = corev1.ClaimLost
	if _, err := c.cfg.Writer.UpdateStatus(ctx, "PersistentVolumeClaim", next); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("marking claim %s lost: %w", reconcile.Key(pvc), err)
	}
	return nil
}

// matchingVolume finds the smallest free volume the claim fits: same
// class, every access mode the claim asks, enough capacity, the claim's
// selector, and, when node is set, reachable from that node.
func (c *Controller) matchingVolume(pvc *corev1.PersistentVolumeClaim, node string) *corev1.PersistentVolume {
	var nodeObj *corev1.Node
	if node != "" {
		o, ok := c.cfg.Nodes.Get("", node)
		if !ok {
			return nil
		}
		nodeObj = o.(*corev1.Node)
	}
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	var sel labels.Selector
	if pvc.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(pvc.Spec.Selector)
		if err != nil {
			return nil
		}
		sel = s
	}
	var best *corev1.PersistentVolume
	for _, o := range c.cfg.Volumes.List() {
		pv := o.(*corev1.PersistentVolume)
		size := pv.Spec.Capacity[corev1.ResourceStorage]
		switch {
		case pv.Spec.ClaimRef != nil || pv.DeletionTimestamp != nil || pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed:
		case pv.Spec.StorageClassName != apis.ClaimClass(pvc):
		case size.Cmp(want) < 0:
		case sel != nil && !sel.Matches(labels.Set(pv.Labels)):
		case !hasModes(pv.Spec.AccessModes, pvc.Spec.AccessModes):
		case nodeObj != nil && !scheduling.VolumeReachable(pv.Spec.NodeAffinity, nodeObj):
		default:
			if best == nil || size.Cmp(best.Spec.Capacity[corev1.ResourceStorage]) < 0 {
				best = pv
			}
		}
	}
	return best
}

func hasModes(have, want []corev1.PersistentVolumeAccessMode) bool {
	for _, m := range want {
		if !slices.Contains(have, m) {
			return false
		}
	}
	return true
}

// reserve writes the volume's claimRef (the volume side of the binding,
// written first as in Kubernetes); the claim is named next.
func (c *Controller) reserve(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	if ref := pv.Spec.ClaimRef; ref != nil && ref.UID != pvc.UID {
		return nil
	}
	next := pv.DeepCopy()
	next.Spec.ClaimRef = claimRef(pvc)
	out, err := c.cfg.Writer.Update(ctx, "PersistentVolume", next)
	if err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return err // retried against what is there now
		}
		return fmt.Errorf("reserving volume %s for claim %s: %w", pv.Name, reconcile.Key(pvc), err)
	}
	if pvc.Spec.VolumeName == "" {
		return c.nameVolume(ctx, pvc, out.(*corev1.PersistentVolume))
	}
	return nil
}

// nameVolume writes the claim's side of the binding, then its status.
func (c *Controller) nameVolume(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	next := pvc.DeepCopy()
	next.Spec.VolumeName = pv.Name
	out, err := c.cfg.Writer.Update(ctx, "PersistentVolumeClaim", next)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("binding claim %s to volume %s: %w", reconcile.Key(pvc), pv.Name, err)
	}
	c.log.Info("claim bound", "claim", reconcile.Key(pvc), "volume", pv.Name)
	return c.markBound(ctx, out.(*corev1.PersistentVolumeClaim), pv)
}

func claimRef(pvc *corev1.PersistentVolumeClaim) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name,
		UID: pvc.UID, ResourceVersion: pvc.ResourceVersion}
}

// provision makes a local-path volume for the claim on node: a volume
// object pinned to the node, reserved for the claim, whose directory the
// node's agent creates when the first pod mounts it.
func (c *Controller) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, sc *storagev1.StorageClass, node string) error {
	root := sc.Parameters["path"]
	hostname := node
	o, ok := c.cfg.Nodes.Get("", node)
	if !ok {
		// The chosen node is gone before the volume was made there: let
		// the scheduler choose again, as Kubernetes' provisioner does
		// when it gives up on a node.
		return c.forgetNode(ctx, pvc, fmt.Sprintf("node %s, chosen for the claim's first pod, no longer exists", node))
	}
	n := o.(*corev1.Node)
	if root == "" {
		root = n.Annotations[apis.AnnotationLocalPathRoot]
	}
	if h := n.Labels[corev1.LabelHostname]; h != "" {
		hostname = h
	}
	if root == "" {
		c.cfg.Recorder.Event(ctx, pvc, corev1.EventTypeWarning, "ProvisioningFailed",
			fmt.Sprintf("node %s publishes no local-path directory (annotation %s) and class %s sets no path", node, apis.AnnotationLocalPathRoot, sc.Name))
		return fmt.Errorf("claim %s: node %s has no local-path directory yet", reconcile.Key(pvc), node)
	}
	policy := corev1.PersistentVolumeReclaimDelete
	if sc.ReclaimPolicy != nil {
		policy = *sc.ReclaimPolicy
	}
	name := "pvc-" + string(pvc.UID)
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Labels:      map[string]string{apis.LabelVolumeNode: node},
			Annotations: map[string]string{apis.AnnotationProvisionedBy: apis.LocalPathProvisioner},
			Finalizers:  []string{apis.FinalizerVolumeProtection, apis.FinalizerLocalPathCleanup},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              sc.Name,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef:                      claimRef(pvc),
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{
				// Named as k3s' local-path provisioner names them, so an
				// operator finds a claim's data by its name.
				Path: filepath.Join(root, apis.LocalPathDirName(name, pvc.Namespace, pvc.Name)),
			}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname}}},
			}}}},
		},
	}
	out, err := c.cfg.Writer.Create(ctx, "PersistentVolume", pv)
	if apierrors.IsAlreadyExists(err) {
		return nil // made by an earlier try: the claim's next sync names it
	}
	if err != nil {
		return fmt.Errorf("provisioning a volume for claim %s: %w", reconcile.Key(pvc), err)
	}
	c.cfg.Recorder.Event(ctx, pvc, corev1.EventTypeNormal, "ProvisioningSucceeded",
		fmt.Sprintf("successfully provisioned volume %s on node %s", name, node))
	return c.nameVolume(ctx, pvc, out.(*corev1.PersistentVolume))
}

// syncVolume keeps one volume's phase and reclaims it when its claim has
// gone.
func (c *Controller) syncVolume(ctx context.Context, key string) error {
	_, name := reconcile.SplitKey(key)
	obj, ok := c.cfg.Volumes.Get("", name)
	if !ok {
		return nil
	}
	pv := obj.(*corev1.PersistentVolume)
	ref := pv.Spec.ClaimRef
	var pvc *corev1.PersistentVolumeClaim
	if ref != nil {
		if o, ok := c.cfg.Claims.Get(ref.Namespace, ref.Name); ok {
			pvc = o.(*corev1.PersistentVolumeClaim)
		}
	}
	bound := ref != nil && pvc != nil && pvc.UID == ref.UID && pvc.Spec.VolumeName == pv.Name
	if ref != nil && !bound {
		// What looks let go may be the claims cache lagging (the claim
		// named this volume after the cache last heard of it): ask the
		// store before letting go of data.
		live, err := c.liveClaim(ctx, ref)
		if err != nil {
			return err
		}
		pvc = live
		bound = pvc != nil && pvc.UID == ref.UID && pvc.Spec.VolumeName == pv.Name
	}
	protected := slices.Contains(pv.Finalizers, apis.FinalizerVolumeProtection)
	switch {
	case pv.DeletionTimestamp != nil && protected && !bound:
		// Deleted, and no claim holds it any more: let it go (its node's
		// agent then finishes a local-path volume).
		return c.setProtection(ctx, pv, false)
	case pv.DeletionTimestamp != nil:
		return nil // kept while bound; or its node's agent finishes it
	case !protected:
		return c.setProtection(ctx, pv, true)
	}
	if ref == nil {
		return c.volumePhase(ctx, pv, corev1.VolumeAvailable, "")
	}
	switch {
	case pvc == nil && ref.UID == "":
		// Pre-bound by its author to a claim that does not exist yet.
		return c.volumePhase(ctx, pv, corev1.VolumeAvailable, "")
	case pvc != nil && ref.UID == "":
		// Pre-bound by its author to a claim by name: take the claim's UID.
		if pvc.Spec.VolumeName != "" && pvc.Spec.VolumeName != pv.Name {
			return nil // the claim went elsewhere; the volume waits
		}
		next := pv.DeepCopy()
		next.Spec.ClaimRef = claimRef(pvc)
		_, err := c.cfg.Writer.Update(ctx, "PersistentVolume", next)
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("reserving volume %s: %w", pv.Name, err)
		}
		return err
	case pvc != nil && pvc.UID == ref.UID && (pvc.Spec.VolumeName == "" || pvc.Spec.VolumeName == pv.Name):
		return c.volumePhase(ctx, pv, corev1.VolumeBound, "")
	}
	// The claim is gone (or replaced by another of the same name, or bound
	// elsewhere): the volume is released and reclaimed.
	if err := c.volumePhase(ctx, pv, corev1.VolumeReleased, "its claim "+ref.Namespace+"/"+ref.Name+" was deleted"); err != nil {
		return err
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		return nil // Retain: kept, with its data, until someone deletes it
	}
	if pv.Annotations[apis.AnnotationProvisionedBy] != apis.LocalPathProvisioner {
		c.cfg.Recorder.Event(ctx, pv, corev1.EventTypeWarning, "VolumeFailedDelete",
			"skiff deletes only the volumes its local-path provisioner made; delete this one's data by hand, then the volume")
		return c.volumePhase(ctx, pv, corev1.VolumeFailed, "reclaim policy Delete on a volume skiff did not provision")
	}
	err := c.cfg.Writer.Delete(ctx, "PersistentVolume", "", pv.Name, storage.Preconditions{UID: string(pv.UID)})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting released volume %s: %w", pv.Name, err)
	}
	c.log.Info("released volume deleted", "volume", pv.Name, "claim", ref.Namespace+"/"+ref.Name)
	return nil
}

// liveClaim reads the claim ref names from the store; nil when there is
// none.
func (c *Controller) liveClaim(ctx context.Context, ref *corev1.ObjectReference) (*corev1.PersistentVolumeClaim, error) {
	rec, err := c.cfg.Reader.Get(ctx, c.cfg.Claims.Resource(), ref.Namespace, ref.Name, true)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading claim %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	return rec.Object().(*corev1.PersistentVolumeClaim), nil
}

// forgetNode removes the node the scheduler chose from an unbound claim.
func (c *Controller) forgetNode(ctx context.Context, pvc *corev1.PersistentVolumeClaim, why string) error {
	c.cfg.Recorder.Event(ctx, pvc, corev1.EventTypeWarning, "ProvisioningFailed", why+"; rescheduling")
	next := pvc.DeepCopy()
	delete(next.Annotations, apis.AnnotationSelectedNode)
	if _, err := c.cfg.Writer.Update(ctx, "PersistentVolumeClaim", next); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("claim %s: forgetting node: %w", reconcile.Key(pvc), err)
	}
	return nil
}

// setProtection adds or removes a volume's pv-protection finalizer.
func (c *Controller) setProtection(ctx context.Context, pv *corev1.PersistentVolume, on bool) error {
	next := pv.DeepCopy()
	if on {
		next.Finalizers = append(next.Finalizers, apis.FinalizerVolumeProtection)
	} else {
		next.Finalizers = slices.DeleteFunc(next.Finalizers, func(f string) bool { return f == apis.FinalizerVolumeProtection })
	}
	if _, err := c.cfg.Writer.Update(ctx, "PersistentVolume", next); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("protection of volume %s: %w", pv.Name, err)
	}
	return nil
}

// volumePhase sets a volume's status.phase (and message) unless it is so.
func (c *Controller) volumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, msg string) error {
	if pv.Status.Phase == phase && pv.Status.Message == msg {
		return nil
	}
	next := pv.DeepCopy()
	next.Status.Phase, next.Status.Message = phase, msg
	_, err := c.cfg.Writer.UpdateStatus(ctx, "PersistentVolume", next)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("volume %s to %s: %w", pv.Name, phase, err)
	}
	return nil
}
