package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
)

// Recorder records events about objects (what `skiff describe` and
// `skiff get events` show). Recording is best effort: a failure is logged,
// never returned, so it never fails a sync.
type Recorder interface {
	// Event records an event of eventType (corev1.EventTypeNormal or
	// EventTypeWarning) about obj, which must carry its apiVersion and kind
	// (objects from the store do).
	Event(ctx context.Context, obj apis.Object, eventType, reason, message string)
}

// StoreRecorderConfig configures a StoreRecorder.
type StoreRecorderConfig struct {
	Writer Writer
	// Component is the reporting controller ("replicaset-controller").
	Component string
	// Instance is the master recording (its server ID).
	Instance string
	Clock    clock.PassiveClock
	Logger   *slog.Logger
}

// StoreRecorder writes each event as a core/v1 Event through a Writer.
type StoreRecorder struct {
	cfg StoreRecorderConfig
	seq atomic.Uint64
}

var _ Recorder = (*StoreRecorder)(nil)

// NewStoreRecorder returns a recorder writing through cfg.Writer.
func NewStoreRecorder(cfg StoreRecorderConfig) *StoreRecorder {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &StoreRecorder{cfg: cfg}
}

// Event implements Recorder.
func (r *StoreRecorder) Event(ctx context.Context, obj apis.Object, eventType, reason, message string) {
	now := metav1.NewTime(r.cfg.Clock.Now())
	gvk := obj.GetObjectKind().GroupVersionKind()
	ns := obj.GetNamespace()
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			// The sequence number keeps events of one instant apart.
			Name:      fmt.Sprintf("%s.%x.%x", obj.GetName(), now.UnixNano(), r.seq.Add(1)),
			Namespace: ns,
		},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
			Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID(), ResourceVersion: obj.GetResourceVersion(),
		},
		Reason: reason, Message: message, Type: eventType,
		Source:         corev1.EventSource{Component: r.cfg.Component},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "skiff.io/" + r.cfg.Component, ReportingInstance: r.cfg.Instance,
	}
	if _, err := r.cfg.Writer.Create(ctx, "Event", ev); err != nil && ctx.Err() == nil {
		r.cfg.Logger.Debug("recording an event", "object", Key(obj), "reason", reason, "err", err)
	}
}

// NopRecorder drops every event: for controllers built without a recorder.
type NopRecorder struct{}

// Event implements Recorder.
func (NopRecorder) Event(context.Context, apis.Object, string, string, string) {}
