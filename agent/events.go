package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eventRepeatWindow is how long a repeat of an event (same pod, type,
// reason and message) is counted on the earlier one instead of written as
// a new event: a crash-looping or failing-probe pod makes one event with a
// count, not hundreds.
const eventRepeatWindow = 10 * time.Minute

// eventLog remembers the agent's recent events for aggregation.
type eventLog struct {
	mu     sync.Mutex
	recent map[string]*corev1.Event
}

// event records something that happened to a pod; a failure to record it
// is logged, never fatal. A repeat within eventRepeatWindow raises the
// earlier event's count and lastTimestamp instead.
func (a *Agent) event(ctx context.Context, pod *corev1.Pod, typ, reason, msg string) {
	if pod == nil {
		return
	}
	now := metav1.NewTime(a.clock.Now())
	key := string(pod.UID) + "\x00" + typ + "\x00" + reason + "\x00" + msg
	a.events.mu.Lock()
	if a.events.recent == nil {
		a.events.recent = map[string]*corev1.Event{}
	}
	prev, repeat := a.events.recent[key]
	var ev *corev1.Event
	if repeat && now.Sub(prev.LastTimestamp.Time) < eventRepeatWindow {
		ev = prev.DeepCopy()
		ev.Count++
		ev.LastTimestamp = now
	} else {
		ev = &corev1.Event{
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
	}
	a.events.recent[key] = ev
	// Forget what is past the window, so the map stays small.
	for k, e := range a.events.recent {
		if now.Sub(e.LastTimestamp.Time) >= eventRepeatWindow {
			delete(a.events.recent, k)
		}
	}
	a.events.mu.Unlock()
	if err := a.cfg.Cluster.CreateEvent(ctx, ev); err != nil {
		a.log.Debug("recording an event", "reason", reason, "err", err)
	}
}
