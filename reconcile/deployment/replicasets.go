package deployment

import (
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"maps"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Labels and annotations the controller writes.
const (
	// LabelPodTemplateHash tells the ReplicaSets of one Deployment (and
	// their pods) apart.
	LabelPodTemplateHash = "pod-template-hash"
	// AnnotationRevision numbers a Deployment's templates: 1, 2, 3 … on
	// its ReplicaSets; on the Deployment, the revision of the new one.
	AnnotationRevision = "deployment.kubernetes.io/revision"
	// AnnotationChangeCause is copied from the Deployment to the
	// ReplicaSet of each revision (what `rollout history` shows).
	AnnotationChangeCause = "kubernetes.io/change-cause"
)

// templateHash is the pod-template-hash of a template: fnv-1a (32 bits) of
// its JSON, and of the collision count when there is one, in base 36.
func templateHash(t *corev1.PodTemplateSpec, collisions *int32) string {
	h := fnv.New32a()
	raw, _ := json.Marshal(t) // a PodTemplateSpec always encodes
	h.Write(raw)
	if collisions != nil {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(*collisions))
		h.Write(b[:])
	}
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

// sameTemplate reports whether a ReplicaSet runs the Deployment's
// template: equal once the pod-template-hash label is left out.
func sameTemplate(rs *appsv1.ReplicaSet, d *appsv1.Deployment) bool {
	a := rs.Spec.Template.DeepCopy()
	delete(a.Labels, LabelPodTemplateHash)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	b := &d.Spec.Template
	if len(b.Labels) == 0 {
		b = b.DeepCopy()
		b.Labels = nil
	}
	return equality.Semantic.DeepEqual(a, b)
}

// rsName is "<deployment>-<hash>", the Deployment's name cut short so that
// the ReplicaSet's pods ("<rs>-xxxxx") keep within 63 characters.
func rsName(d *appsv1.Deployment, hash string) string {
	base := d.Name
	if limit := 63 - 6 - 1 - len(hash); len(base) > limit {
		base = base[:limit]
	}
	return base + "-" + hash
}

// newReplicaSet is the ReplicaSet of d's current template at revision,
// with replicas pods.
func newReplicaSet(d *appsv1.Deployment, hash string, revision int64, replicas int32) *appsv1.ReplicaSet {
	t := d.Spec.Template.DeepCopy()
	t.Labels = withHash(t.Labels, hash)
	sel := d.Spec.Selector.DeepCopy()
	sel.MatchLabels = withHash(sel.MatchLabels, hash)
	annotations := map[string]string{AnnotationRevision: strconv.FormatInt(revision, 10)}
	if cause, ok := d.Annotations[AnnotationChangeCause]; ok {
		annotations[AnnotationChangeCause] = cause
	}
	return &appsv1.ReplicaSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            rsName(d, hash),
			Namespace:       d.Namespace,
			Labels:          maps.Clone(t.Labels),
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To(replicas),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        sel,
			Template:        *t,
		},
	}
}

func withHash(m map[string]string, hash string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	out[LabelPodTemplateHash] = hash
	return out
}

// revision is the revision annotation of an object; 0 when missing.
func revision(obj metav1.Object) int64 {
	v, err := strconv.ParseInt(obj.GetAnnotations()[AnnotationRevision], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revision(rs))
	}
	return m
}

// byAge sorts ReplicaSets oldest first: lowest revision, then created
// earliest, then by name.
func byAge(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		a, b := rss[i], rss[j]
		if ra, rb := revision(a), revision(b); ra != rb {
			return ra < rb
		}
		if ca, cb := a.CreationTimestamp.Time, b.CreationTimestamp.Time; !ca.Equal(cb) {
			return ca.Before(cb)
		}
		return a.Name < b.Name
	})
}

func specReplicas(rs *appsv1.ReplicaSet) int32 { return ptr.Deref(rs.Spec.Replicas, 1) }

// podsOf is what rs counts for the surge: its spec, or the pods it still
// has when it has not caught up with a scale-down yet.
func podsOf(rs *appsv1.ReplicaSet) int32 { return max(specReplicas(rs), rs.Status.Replicas) }

// availableOf is what rs counts for availability: its available pods, no
// more than its spec (a scale-down the ReplicaSet controller has not done
// yet is taken as done).
func availableOf(rs *appsv1.ReplicaSet) int32 {
	return min(rs.Status.AvailableReplicas, specReplicas(rs))
}

// caughtUp reports whether rs's status describes its current spec.
func caughtUp(rs *appsv1.ReplicaSet) bool {
	return rs.Status.ObservedGeneration >= rs.Generation && rs.Status.Replicas == specReplicas(rs)
}
