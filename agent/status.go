package agent

import (
	"context"

	"github.com/skiffhq/skiff/agent/runtime"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// status computes the pod's status from its containers, as the kubelet
// reports it.
func (s *podSync) status() corev1.PodStatus {
	a, pod := s.a, s.pod
	old := pod.Status
	st := corev1.PodStatus{
		HostIP:            a.cfg.HostIP,
		StartTime:         old.StartTime,
		QOSClass:          old.QOSClass,
		NominatedNodeName: old.NominatedNodeName,
	}
	if a.cfg.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: a.cfg.HostIP}}
	}
	if st.StartTime == nil {
		now := metav1.NewTime(a.clock.Now())
		st.StartTime = &now
	}
	if s.sb != nil {
		st.PodIP = s.sb.IP
		st.PodIPs = []corev1.PodIP{{IP: s.sb.IP}}
	} else {
		st.PodIP, st.PodIPs = old.PodIP, old.PodIPs
	}

	initDone := true
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := s.containerStatus(c, true)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			initDone = false
		}
	}
	allReady, running, exited, failed, waiting := true, 0, 0, 0, 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := s.containerStatus(c, false)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if !cs.Ready {
			allReady = false
		}
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			exited++
			if cs.State.Terminated.ExitCode != 0 {
				failed++
			}
		default:
			waiting++
			if cs.LastTerminationState.Terminated != nil {
				running++ // crash-looping counts as running, as in Kubernetes
			}
		}
	}
	n := len(pod.Spec.Containers)
	policy := pod.Spec.RestartPolicy
	switch {
	case s.failed:
		st.Phase = corev1.PodFailed
	case !initDone:
		st.Phase = corev1.PodPending
	// Only a pod whose containers are not restarted can finish: with
	// Always they all come back, with OnFailure the failed ones do.
	case exited == n && failed == 0 && policy != corev1.RestartPolicyAlways && policy != "":
		st.Phase = corev1.PodSucceeded
	case exited == n && failed > 0 && policy == corev1.RestartPolicyNever:
		st.Phase = corev1.PodFailed
	case running > 0 || exited > 0:
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	if st.Phase == corev1.PodFailed || st.Phase == corev1.PodSucceeded {
		allReady = false
	}
	if s.podErr != nil && st.Phase == corev1.PodPending {
		st.Reason, st.Message = s.podErr.reason, s.podErr.message
	}
	st.Conditions = conditions(old.Conditions, a.clock.Now(), map[corev1.PodConditionType]bool{
		corev1.PodInitialized:  initDone,
		corev1.ContainersReady: allReady && initDone,
		corev1.PodReady:        allReady && initDone,
	}, s.podErr)
	return st
}

// conditions keeps other writers' conditions (PodScheduled) and sets the
// agent's, keeping the transition time of those that did not change.
func conditions(old []corev1.PodCondition, now interface{ Unix() int64 }, set map[corev1.PodConditionType]bool, podErr *startFailure) []corev1.PodCondition {
	var out []corev1.PodCondition
	prev := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range old {
		prev[c.Type] = c
		if _, ours := set[c.Type]; !ours {
			out = append(out, c)
		}
	}
	for _, t := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		status := corev1.ConditionFalse
		if set[t] {
			status = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: status}
		if p, ok := prev[t]; ok && p.Status == status {
			c.LastTransitionTime = p.LastTransitionTime
		} else {
			c.LastTransitionTime = metav1.Unix(now.Unix(), 0)
		}
		if status == corev1.ConditionFalse && t != corev1.PodInitialized {
			c.Reason = "ContainersNotReady"
		}
		out = append(out, c)
	}
	return out
}

// containerStatus reports one container from its newest two attempts.
func (s *podSync) containerStatus(c *corev1.Container, init bool) corev1.ContainerStatus {
	a, pod := s.a, s.pod
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	last, prev := s.ctrs.latest(c.Name), s.ctrs.previous(c.Name)
	f, waiting := s.waiting[c.Name]
	if !waiting && s.podErr != nil {
		f, waiting = *s.podErr, true
	}
	if last == nil {
		reason := reasonContainerCreating
		if !init && len(pod.Spec.InitContainers) > 0 {
			reason = reasonPodInitializing
		}
		msg := ""
		if waiting {
			reason, msg = f.reason, f.message
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
		return cs
	}
	cs.RestartCount = int32(attemptOf(*last))
	cs.ContainerID = "containerd://" + last.ID
	cs.ImageID = last.Image
	if prev != nil && prev.State == runtime.StateExited {
		cs.LastTerminationState.Terminated = terminated(prev)
	}
	switch last.State {
	case runtime.StateRunning:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(last.StartedAt)}
		started := true
		if c.StartupProbe != nil {
			started, _ = a.probes.Started(string(pod.UID), c.Name)
		}
		cs.Started = &started
		ready := started
		if ready && c.ReadinessProbe != nil {
			ready, _ = a.probes.Readiness(string(pod.UID), c.Name)
		}
		cs.Ready = ready && !init
	case runtime.StateExited:
		if waiting {
			// About to be restarted: the crash is the last state.
			cs.LastTerminationState.Terminated = terminated(last)
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: f.reason, Message: f.message}
		} else {
			cs.State.Terminated = terminated(last)
		}
		started := false
		cs.Started = &started
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reasonContainerCreating}
	}
	return cs
}

func terminated(c *runtime.Container) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{ExitCode: c.ExitCode, ContainerID: "containerd://" + c.ID,
		StartedAt: metav1.NewTime(c.StartedAt), FinishedAt: metav1.NewTime(c.FinishedAt)}
	switch {
	case c.OOMKilled:
		t.Reason = "OOMKilled"
	case c.Message != "":
		t.Reason, t.Message = "StartError", c.Message
	case c.ExitCode == 0:
		t.Reason = "Completed"
	default:
		t.Reason = "Error"
	}
	return t
}

// writeStatus writes the status when it differs from what the API has.
func (a *Agent) writeStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	if apiequality.Semantic.DeepEqual(pod.Status, st) {
		return nil
	}
	upd := pod.DeepCopy()
	upd.Status = st
	if err := a.cfg.Cluster.UpdatePodStatus(ctx, upd); err != nil {
		return err
	}
	// Remember what was written so the next sync compares with it even
	// before the watch delivers it.
	a.mu.Lock()
	if cur, ok := a.pods[pod.UID]; ok && cur.ResourceVersion == pod.ResourceVersion {
		a.pods[pod.UID] = upd
	}
	a.mu.Unlock()
	return nil
}
