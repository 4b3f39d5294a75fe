package disruption

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/queue"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
)

// Name names the controller in logs and events.
const Name = "disruption-controller"

// Condition reasons, as Kubernetes' disruption controller writes them.
const (
	ReasonSufficientPods   = "SufficientPods"
	ReasonInsufficientPods = "InsufficientPods"
	ReasonSyncFailed       = "SyncFailed"
)

// Config configures the controller.
type Config struct {
	Budgets, Pods *reconcile.Informer
	Writer        reconcile.Writer
	Recorder      reconcile.Recorder
	// Clock stamps conditions and drives the retry backoff.
	Clock  clock.WithDelayedExecution
	Queue  queue.Config
	Logger *slog.Logger
}

// Controller keeps budgets' status; a leader loop.
type Controller struct {
	cfg  Config
	ctrl *reconcile.Controller
}

// New returns the controller with its handlers registered on the
// informers. Build one per leadership term: Run works once.
func New(cfg Config) *Controller {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Queue.Clock = cfg.Clock
	c := &Controller{cfg: cfg}
	c.ctrl = reconcile.NewController(reconcile.ControllerConfig{
		Name: "disruption", Sync: c.sync, Workers: 2, WaitFor: []*reconcile.Informer{cfg.Budgets, cfg.Pods},
		Queue: cfg.Queue, Logger: cfg.Logger,
	})
	enqueue := func(obj apis.Object) { c.ctrl.Enqueue(reconcile.Key(obj)) }
	cfg.Budgets.AddHandler(reconcile.Handler{OnAdd: enqueue, OnUpdate: func(_, o apis.Object) { enqueue(o) }})
	podChanged := func(old, pod *corev1.Pod) {
		for _, o := range cfg.Budgets.ByIndex(reconcile.IndexNamespace, pod.Namespace) {
			sel, err := metav1.LabelSelectorAsSelector(o.(*policyv1.PodDisruptionBudget).Spec.Selector)
			if err == nil && (sel.Matches(labels.Set(pod.Labels)) || old != nil && sel.Matches(labels.Set(old.Labels))) {
				enqueue(o)
			}
		}
	}
	cfg.Pods.AddHandler(reconcile.Handler{
		OnAdd:    func(o apis.Object) { podChanged(nil, o.(*corev1.Pod)) },
		OnUpdate: func(old, o apis.Object) { podChanged(old.(*corev1.Pod), o.(*corev1.Pod)) },
		OnDelete: func(o apis.Object) { podChanged(nil, o.(*corev1.Pod)) },
	})
	return c
}

// Run keeps budgets' status until ctx ends; the informers must be running.
func (c *Controller) Run(ctx context.Context) error { return c.ctrl.Run(ctx) }

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.cfg.Budgets.Get(ns, name)
	if !ok {
		return nil
	}
	b := obj.(*policyv1.PodDisruptionBudget)
	want := b.Status.DeepCopy()
	want.ObservedGeneration = b.Generation
	var pods []*corev1.Pod
	sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
	if err == nil {
		for _, o := range c.cfg.Pods.Select(ns, sel) {
			pods = append(pods, o.(*corev1.Pod))
		}
	}
	var expected, healthy, desired int
	if err == nil {
		expected, healthy, desired, err = apis.BudgetHealth(b, pods)
	}
	cond := metav1.Condition{Type: policyv1.DisruptionAllowedCondition, ObservedGeneration: b.Generation}
	switch {
	case err != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonSyncFailed, err.Error()
		want.DisruptionsAllowed = 0
	default:
		want.ExpectedPods, want.CurrentHealthy, want.DesiredHealthy = int32(expected), int32(healthy), int32(desired)
		want.DisruptionsAllowed = int32(max(healthy-desired, 0))
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonSufficientPods
		if want.DisruptionsAllowed == 0 {
			cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInsufficientPods
		}
		if expected == 0 {
			cond.Message = "the selector matches no pod"
		}
	}
	// The condition's time moves only when its status does.
	cond.LastTransitionTime = metav1.NewTime(c.cfg.Clock.Now())
	if prev := meta.FindStatusCondition(b.Status.Conditions, cond.Type); prev != nil && prev.Status == cond.Status {
		cond.LastTransitionTime = prev.LastTransitionTime
	}
	meta.SetStatusCondition(&want.Conditions, cond)
	if expected == 0 && err == nil && (b.Status.ObservedGeneration != b.Generation || b.Status.ExpectedPods != 0 || len(b.Status.Conditions) == 0) {
		c.cfg.Recorder.Event(ctx, b, corev1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	if equality.Semantic.DeepEqual(&b.Status, want) {
		return nil
	}
	next := b.DeepCopy()
	next.Status = *want
	if _, err := c.cfg.Writer.UpdateStatus(ctx, "PodDisruptionBudget", next); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("status of disruption budget %s: %w", key, err)
	}
	return nil
}
