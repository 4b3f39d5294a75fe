package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/events"
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
	Clock    clock.WithDelayedExecution
	Logger   *slog.Logger
}

// StoreRecorder writes events as core/v1 Events through a Writer, with
// repeats and bursts of similar events counted on one event (package
// apis/events).
type StoreRecorder struct {
	cfg  StoreRecorderConfig
	seq  atomic.Uint64
	corr *events.Correlator
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
	return &StoreRecorder{cfg: cfg, corr: events.New(eventSink{cfg.Writer}, cfg.Clock, cfg.Logger)}
}

// eventSink is events.Sink over a Writer.
type eventSink struct{ w Writer }

func (s eventSink) Create(ctx context.Context, ev *corev1.Event) (*corev1.Event, error) {
	obj, err := s.w.Create(ctx, "Event", ev)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Event), nil
}

func (s eventSink) Update(ctx context.Context, ev *corev1.Event) (*corev1.Event, error) {
	obj, err := s.w.Update(ctx, "Event", ev)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Event), nil
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
	r.corr.Record(ctx, ev)
}

// NopRecorder drops every event: for controllers built without a recorder.
type NopRecorder struct{}

// Event implements Recorder.
func (NopRecorder) Event(context.Context, apis.Object, string, string, string) {}
