package agent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// event records something that happened to a pod; a failure to record it
// is logged, never fatal.
func (a *Agent) event(ctx context.Context, pod *corev1.Pod, typ, reason, msg string) {
	if pod == nil {
		return
	}
	now := metav1.NewTime(a.clock.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", pod.Name, now.UnixNano()),
			Namespace: pod.Namespace,
		},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name,
			UID: pod.UID, ResourceVersion: pod.ResourceVersion},
		Reason: reason, Message: msg, Type: typ,
		Source:         corev1.EventSource{Component: "skiff-agent", Host: a.cfg.NodeName},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "skiff.io/agent", ReportingInstance: a.cfg.NodeName,
	}
	if err := a.cfg.Cluster.CreateEvent(ctx, ev); err != nil {
		a.log.Debug("recording an event", "reason", reason, "err", err)
	}
}
