package replicaset

import (
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxNameBase keeps generated pod names within 63 characters, so that a
// pod name is also a valid hostname.
const maxNameBase = 63 - 5

// podName is "<rs>-<suffix>", the ReplicaSet's name cut short if needed.
func podName(rs *appsv1.ReplicaSet, suffix string) string {
	base := rs.Name + "-"
	if len(base) > maxNameBase {
		base = base[:maxNameBase]
	}
	return base + suffix
}

// newPod is a pod of rs's template, controlled by rs.
func newPod(rs *appsv1.ReplicaSet, name string) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       rs.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))},
		},
		Spec: t.Spec,
	}
}

// isActive: the pod counts toward the replicas (not being deleted, not
// finished).
func isActive(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

func activePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if isActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// readySince returns whether the pod is ready and since when (zero when
// the agent did not say).
func readySince(pod *corev1.Pod) (bool, time.Time) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue, c.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}

// availableIn says whether a pod is available at now (ready for at least
// minReady) and, if it is ready but not yet available, how long until it
// is (0 when it never will be without another change).
func availableIn(pod *corev1.Pod, minReady time.Duration, now time.Time) (available bool, wait time.Duration) {
	ready, since := readySince(pod)
	switch {
	case !ready:
		return false, 0
	case minReady == 0:
		return true, 0
	case since.IsZero():
		return false, 0
	}
	at := since.Add(minReady)
	if !at.After(now) {
		return true, 0
	}
	return false, at.Sub(now)
}

func restarts(pod *corev1.Pod) int32 {
	var n int32
	for _, s := range pod.Status.ContainerStatuses {
		n += s.RestartCount
	}
	return n
}

func phaseRank(p corev1.PodPhase) int {
	switch p {
	case corev1.PodPending, "":
		return 0
	case corev1.PodUnknown:
		return 1
	default:
		return 2
	}
}

// deleteFirst reports whether a is a better pod to delete than b: the pod
// doing the least useful work goes first. In order: not yet scheduled;
// pending before unknown before running; not ready; ready for less time;
// restarted more; created later; then by name, so the choice is stable.
func deleteFirst(a, b *corev1.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if ra, rb := phaseRank(a.Status.Phase), phaseRank(b.Status.Phase); ra != rb {
		return ra < rb
	}
	readyA, sinceA := readySince(a)
	readyB, sinceB := readySince(b)
	if readyA != readyB {
		return !readyA
	}
	if readyA && !sinceA.Equal(sinceB) {
		return sinceA.After(sinceB)
	}
	if ra, rb := restarts(a), restarts(b); ra != rb {
		return ra > rb
	}
	if ca, cb := a.CreationTimestamp.Time, b.CreationTimestamp.Time; !ca.Equal(cb) {
		return ca.After(cb)
	}
	return a.Name < b.Name
}

// toDelete returns the n pods to delete first.
func toDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	ranked := append([]*corev1.Pod(nil), pods...)
	sort.SliceStable(ranked, func(i, j int) bool { return deleteFirst(ranked[i], ranked[j]) })
	return ranked[:min(n, len(ranked))]
}
