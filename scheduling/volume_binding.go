package scheduling

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// VolumeBindingName names the [VolumeBinding] filter.
const VolumeBindingName = "VolumeBinding"

// Reasons [VolumeBinding] gives for a node.
const (
	ReasonVolumeNodeConflict = "node(s) had volume node affinity conflict"
	ReasonClaimOnOtherNode   = "node(s) were not the node the pod's volume is being provisioned on"
	ReasonNoLocalPath        = "node(s) did not offer local-path storage"
	ReasonUnboundImmediate   = "pod has unbound immediate PersistentVolumeClaims"
)

// VolumeLister reads the claims, volumes and classes a pod's volumes
// need; nil when there is none.
type VolumeLister interface {
	Claim(namespace, name string) *corev1.PersistentVolumeClaim
	Volume(name string) *corev1.PersistentVolume
	StorageClass(name string) *storagev1.StorageClass
}

// VolumeBinding places a pod where its persistent volumes are: a bound
// claim's volume may be pinned to nodes (a local-path volume always is);
// an unbound claim of a WaitForFirstConsumer class may go wherever its
// class can provision, unless a node was already chosen for it. A claim
// that is missing, being deleted, or waits for a volume that only
// something else can bind (Immediate binding) keeps the pod pending.
type VolumeBinding struct {
	Volumes VolumeLister
}

var (
	_ FilterPlugin    = VolumeBinding{}
	_ PreFilterPlugin = VolumeBinding{}
)

const volumeBindingKey StateKey = VolumeBindingName

// volumeConstraints are what a pod's claims ask of its node.
type volumeConstraints struct {
	pinned       []NodeTerm // every volume's terms, one group per volume
	pinnedGroups []int      // the number of terms of each volume in pinned
	selectedNode string     // a node already chosen for an unbound claim
	localPath    bool       // an unbound local-path claim without a path of its class
}

// Name returns [VolumeBindingName].
func (VolumeBinding) Name() string { return VolumeBindingName }

// PreFilter resolves the pod's claims once per attempt.
func (vb VolumeBinding) PreFilter(_ context.Context, state *CycleState, pod *PodInfo) *Status {
	claims := apis.PodClaims(pod.Pod)
	if len(claims) == 0 || vb.Volumes == nil {
		return nil
	}
	var vc volumeConstraints
	for _, name := range claims {
		c := vb.Volumes.Claim(pod.Pod.Namespace, name)
		switch {
		case c == nil:
			return NewStatus(Unschedulable, fmt.Sprintf("persistentvolumeclaim %q not found", name))
		case c.DeletionTimestamp != nil:
			return NewStatus(Unschedulable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		case c.Spec.VolumeName != "":
			pv := vb.Volumes.Volume(c.Spec.VolumeName)
			if pv == nil {
				return NewStatus(Unschedulable, fmt.Sprintf("persistentvolume %q of claim %q not found", c.Spec.VolumeName, name))
			}
			if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
				for _, t := range na.Required.NodeSelectorTerms {
					vc.pinned = append(vc.pinned, compileNodeTerm(t))
				}
				vc.pinnedGroups = append(vc.pinnedGroups, len(na.Required.NodeSelectorTerms))
			}
			continue
		}
		cls := apis.ClaimClass(c)
		sc := vb.Volumes.StorageClass(cls)
		switch {
		case cls != "" && sc == nil:
			return NewStatus(Unschedulable, fmt.Sprintf("storageclass %q of claim %q not found", cls, name))
		case sc == nil || !apis.WaitsForFirstConsumer(sc):
			return NewStatus(Unschedulable, ReasonUnboundImmediate)
		}
		if sel := c.Annotations[apis.AnnotationSelectedNode]; sel != "" {
			if vc.selectedNode != "" && vc.selectedNode != sel {
				return NewStatus(Unschedulable, fmt.Sprintf("claims %q and others are being provisioned on different nodes", name))
			}
			vc.selectedNode = sel
		}
		if sc.Provisioner == apis.LocalPathProvisioner && sc.Parameters["path"] == "" {
			vc.localPath = true
		}
	}
	state.Write(volumeBindingKey, &vc)
	return nil
}

// Filter checks the node against the pod's volumes.
func (VolumeBinding) Filter(_ context.Context, state *CycleState, _ *PodInfo, node *NodeInfo) *Status {
	v, ok := state.Read(volumeBindingKey)
	if !ok {
		return nil
	}
	vc := v.(*volumeConstraints)
	if vc.selectedNode != "" && node.Name != vc.selectedNode {
		return NewStatus(Unschedulable, ReasonClaimOnOtherNode)
	}
	n := node.Node
	if n == nil {
		return NewStatus(Unschedulable, ReasonVolumeNodeConflict)
	}
	if vc.localPath && n.Annotations[apis.AnnotationLocalPathRoot] == "" {
		return NewStatus(Unschedulable, ReasonNoLocalPath)
	}
	terms := vc.pinned
	for _, size := range vc.pinnedGroups {
		matched := false
		for i := range terms[:size] {
			if terms[i].Matches(n) {
				matched = true
				break
			}
		}
		if !matched {
			return NewStatus(Unschedulable, ReasonVolumeNodeConflict)
		}
		terms = terms[size:]
	}
	return nil
}
