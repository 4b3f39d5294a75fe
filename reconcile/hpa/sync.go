package hpa

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/reconcile"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// Event reasons, as Kubernetes names them.
const (
	ReasonSuccessfulRescale        = "SuccessfulRescale"
	ReasonFailedGetScale           = "FailedGetScale"
	ReasonFailedGetResourceMetric  = "FailedGetResourceMetric"
	ReasonFailedRescale            = "FailedRescale"
	ReasonInvalidMetricSourceType  = "InvalidMetricSourceType"
	ReasonFailedComputeMetricsReps = "FailedComputeMetricsReplicas"
)

// scaleTarget is the workload an autoscaler scales.
type scaleTarget struct {
	kind     string
	obj      apis.Object
	replicas int32
	selector labels.Selector
}

// sync evaluates one autoscaler, then comes back after the sync period.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.cfg.Autoscalers.Get(ns, name)
	if !ok {
		return nil
	}
	defer c.ctrl.Queue().AddAfter(key, c.cfg.SyncPeriod)
	hpa := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	now := c.cfg.Clock.Now()
	mnow := metav1.NewTime(now.UTC().Truncate(time.Second))
	status := hpa.Status.DeepCopy()
	status.ObservedGeneration = ptr.To(hpa.Generation)
	conds := &status.Conditions
	target, err := c.target(hpa)
	if err != nil {
		setCondition(conds, mnow, autoscalingv2.AbleToScale, corev1.ConditionFalse, ReasonFailedGetScale, err.Error())
		c.cfg.Recorder.Event(ctx, hpa, corev1.EventTypeWarning, ReasonFailedGetScale, err.Error())
		return c.writeStatus(ctx, hpa, status)
	}
	setCondition(conds, mnow, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale")
	status.CurrentReplicas = target.replicas
	if target.replicas == 0 {
		setCondition(conds, mnow, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
		status.DesiredReplicas = 0
		return c.writeStatus(ctx, hpa, status)
	}
	minReplicas := ptr.Deref(hpa.Spec.MinReplicas, 1)
	// Out of range already: back into it at once, metrics or not, as
	// Kubernetes does (a new autoscaler over a one-replica Deployment
	// brings it to its minimum without waiting for the first metrics).
	switch {
	case target.replicas < minReplicas:
		setCondition(conds, mnow, autoscalingv2.ScalingLimited, corev1.ConditionTrue, "TooFewReplicas",
			fmt.Sprintf("the replica count is less than the minimum replica count (%d)", minReplicas))
		return c.rescale(ctx, hpa, target, minReplicas, "Current number of replicas below Spec.MinReplicas", status, now)
	case target.replicas > hpa.Spec.MaxReplicas:
		setCondition(conds, mnow, autoscalingv2.ScalingLimited, corev1.ConditionTrue, "TooManyReplicas",
			fmt.Sprintf("the replica count is more than the maximum replica count (%d)", hpa.Spec.MaxReplicas))
		return c.rescale(ctx, hpa, target, hpa.Spec.MaxReplicas, "Current number of replicas above Spec.MaxReplicas", status, now)
	}
	desired, metricsStatus, reason, err := c.recommend(ctx, hpa, target)
	if err != nil {
		setCondition(conds, mnow, autoscalingv2.ScalingActive, corev1.ConditionFalse, ReasonFailedGetResourceMetric, err.Error())
		c.cfg.Recorder.Event(ctx, hpa, corev1.EventTypeWarning, ReasonFailedGetResourceMetric, err.Error())
		status.DesiredReplicas = target.replicas
		return c.writeStatus(ctx, hpa, status)
	}
	setCondition(conds, mnow, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from "+reason)
	status.CurrentMetrics = metricsStatus

	h := c.historyOf(key)
	up, down := rules(hpa.Spec.Behavior)
	stable := h.stabilize(now, target.replicas, desired, up, down)
	limitedTo, limited := h.limit(now, target.replicas, stable, up, down)
	final := limitedTo
	switch {
	case final < minReplicas:
		final = minReplicas
		setCondition(conds, mnow, autoscalingv2.ScalingLimited, corev1.ConditionTrue, "TooFewReplicas", fmt.Sprintf("the desired replica count is less than the minimum replica count (%d)", minReplicas))
	case final > hpa.Spec.MaxReplicas:
		final = hpa.Spec.MaxReplicas
		setCondition(conds, mnow, autoscalingv2.ScalingLimited, corev1.ConditionTrue, "TooManyReplicas", fmt.Sprintf("the desired replica count is more than the maximum replica count (%d)", hpa.Spec.MaxReplicas))
	case limited:
		setCondition(conds, mnow, autoscalingv2.ScalingLimited, corev1.ConditionTrue, "ScaleRateLimited", fmt.Sprintf("the desired replica count %d is beyond what the scaling policies allow now (%d)", stable, limitedTo))
	default:
		setCondition(conds, mnow, autoscalingv2.ScalingLimited, corev1.ConditionFalse, "DesiredWithinRange", "the desired count is within the acceptable range")
	}
	direction := "above"
	if final < target.replicas {
		direction = "below"
	}
	return c.rescale(ctx, hpa, target, final, reason+" "+direction+" target", status, now)
}

// rescale sets the target's replicas to final (when they differ), records
// it and says why, then writes the autoscaler's status.
func (c *Controller) rescale(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, target *scaleTarget, final int32,
	why string, status *autoscalingv2.HorizontalPodAutoscalerStatus, now time.Time) error {
	mnow := metav1.NewTime(now.UTC().Truncate(time.Second))
	conds := &status.Conditions
	status.DesiredReplicas = final
	if final != target.replicas {
		if err := c.scale(ctx, target, final); err != nil {
			setCondition(conds, mnow, autoscalingv2.AbleToScale, corev1.ConditionFalse, ReasonFailedRescale, err.Error())
			c.cfg.Recorder.Event(ctx, hpa, corev1.EventTypeWarning, ReasonFailedRescale, err.Error())
			_ = c.writeStatus(ctx, hpa, status)
			return err
		}
		c.historyOf(reconcile.Key(hpa)).record(now, target.replicas, final)
		c.cfg.Recorder.Event(ctx, hpa, corev1.EventTypeNormal, ReasonSuccessfulRescale, fmt.Sprintf("New size: %d; reason: %s", final, why))
		c.log.Info("rescaled", "hpa", reconcile.Key(hpa), "from", target.replicas, "to", final, "reason", why)
		t := metav1.NewTime(now)
		status.LastScaleTime = &t
		setCondition(conds, mnow, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", fmt.Sprintf("the HPA controller was able to update the target scale to %d", final))
	}
	return c.writeStatus(ctx, hpa, status)
}

// target finds the autoscaler's Deployment or ReplicaSet.
func (c *Controller) target(hpa *autoscalingv2.HorizontalPodAutoscaler) (*scaleTarget, error) {
	ref := hpa.Spec.ScaleTargetRef
	var inf *reconcile.Informer
	switch ref.Kind {
	case "Deployment":
		inf = c.cfg.Deployments
	case "ReplicaSet":
		inf = c.cfg.ReplicaSets
	default:
		return nil, fmt.Errorf("the HPA controller scales Deployments and ReplicaSets, not %s", ref.Kind)
	}
	obj, ok := inf.Get(hpa.Namespace, ref.Name)
	if !ok {
		return nil, fmt.Errorf("%s %q not found in namespace %q", strings.ToLower(ref.Kind), ref.Name, hpa.Namespace)
	}
	t := &scaleTarget{kind: ref.Kind, obj: obj}
	var sel *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		t.replicas, sel = ptr.Deref(o.Spec.Replicas, 1), o.Spec.Selector
	case *appsv1.ReplicaSet:
		t.replicas, sel = ptr.Deref(o.Spec.Replicas, 1), o.Spec.Selector
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("the target's selector: %w", err)
	}
	t.selector = s
	return t, nil
}

// recommend asks every metric and takes the largest recommendation.
func (c *Controller) recommend(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, t *scaleTarget) (int32, []autoscalingv2.MetricStatus, string, error) {
	metrics := hpa.Spec.Metrics
	if len(metrics) == 0 {
		// autoscaling/v1's default: 80% CPU.
		metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}}}}
	}
	usage, err := c.cfg.Metrics.PodUsage(ctx, hpa.Namespace)
	if err != nil {
		return 0, nil, "", fmt.Errorf("reading pod metrics: %w", err)
	}
	pods := c.pods(hpa.Namespace, t.selector)
	var best int32 = -1
	var reason string
	var statuses []autoscalingv2.MetricStatus
	var errs []error
	for _, m := range metrics {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
			errs = append(errs, fmt.Errorf("metric type %s: only Resource metrics (cpu, memory) are supported", m.Type))
			continue
		}
		r := m.Resource
		target := Target{}
		switch r.Target.Type {
		case autoscalingv2.UtilizationMetricType:
			target.Utilization = ptr.Deref(r.Target.AverageUtilization, 0)
		case autoscalingv2.AverageValueMetricType:
			if r.Target.AverageValue != nil {
				target.AverageValue = quantityValue(r.Name, *r.Target.AverageValue)
			}
		}
		if target.Utilization <= 0 && target.AverageValue <= 0 {
			errs = append(errs, fmt.Errorf("metric %s: a target of type Utilization or AverageValue is needed", r.Name))
			continue
		}
		rec, err := Replicas(t.replicas, samples(pods, usage, r.Name), target, c.cfg.Tolerance)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
			continue
		}
		st := autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: r.Name}}
		what := fmt.Sprintf("%s resource", r.Name)
		if target.Utilization > 0 {
			v := int32(rec.Current)
			st.Resource.Current.AverageUtilization = &v
			st.Resource.Current.AverageValue = averageQuantity(r.Name, pods, usage)
			what += " utilization (percentage of request)"
		} else {
			st.Resource.Current.AverageValue = averageQuantity(r.Name, pods, usage)
		}
		statuses = append(statuses, st)
		if rec.Replicas > best {
			best, reason = rec.Replicas, what
		}
	}
	if best < 0 {
		return 0, nil, "", errors.Join(errs...)
	}
	return best, statuses, reason, nil
}

// pods are the target's live pods.
func (c *Controller) pods(namespace string, sel labels.Selector) []*corev1.Pod {
	var out []*corev1.Pod
	for _, o := range c.cfg.Pods.ByIndex(reconcile.IndexNamespace, namespace) {
		p := o.(*corev1.Pod)
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

func samples(pods []*corev1.Pod, usage map[string]corev1.ResourceList, name corev1.ResourceName) []PodSample {
	out := make([]PodSample, 0, len(pods))
	for _, p := range pods {
		s := PodSample{Name: p.Name, Ready: apis.PodReady(p)}
		for _, ctr := range p.Spec.Containers {
			if q, ok := ctr.Resources.Requests[name]; ok {
				s.Request += quantityValue(name, q)
			}
		}
		if u, ok := usage[p.Name]; ok {
			if q, ok := u[name]; ok {
				s.Usage, s.HasUsage = quantityValue(name, q), true
			}
		}
		out = append(out, s)
	}
	return out
}

// quantityValue is cpu in millicores, anything else in units.
func quantityValue(name corev1.ResourceName, q resource.Quantity) int64 {
	if name == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

func averageQuantity(name corev1.ResourceName, pods []*corev1.Pod, usage map[string]corev1.ResourceList) *resource.Quantity {
	var sum int64
	n := 0
	for _, p := range pods {
		if u, ok := usage[p.Name][name]; ok {
			sum += quantityValue(name, u)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if name == corev1.ResourceCPU {
		return resource.NewMilliQuantity(sum/int64(n), resource.DecimalSI)
	}
	return resource.NewQuantity(sum/int64(n), resource.BinarySI)
}

// scale writes the target's spec.replicas.
func (c *Controller) scale(ctx context.Context, t *scaleTarget, replicas int32) error {
	switch o := t.obj.(type) {
	case *appsv1.Deployment:
		next := o.DeepCopy()
		next.Spec.Replicas = &replicas
		_, err := c.cfg.Writer.Update(ctx, "Deployment", next)
		return err
	case *appsv1.ReplicaSet:
		next := o.DeepCopy()
		next.Spec.Replicas = &replicas
		_, err := c.cfg.Writer.Update(ctx, "ReplicaSet", next)
		return err
	}
	return fmt.Errorf("cannot scale %T", t.obj)
}

func (c *Controller) writeStatus(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, status *autoscalingv2.HorizontalPodAutoscalerStatus) error {
	if equality.Semantic.DeepEqual(&hpa.Status, status) {
		return nil
	}
	next := hpa.DeepCopy()
	next.Status = *status
	if _, err := c.cfg.Writer.UpdateStatus(ctx, "HorizontalPodAutoscaler", next); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating the status of %s: %w", reconcile.Key(hpa), err)
	}
	return nil
}

// setCondition sets a condition, moving its transition time only when its
// status changes.
func setCondition(conds *[]autoscalingv2.HorizontalPodAutoscalerCondition, now metav1.Time, typ autoscalingv2.HorizontalPodAutoscalerConditionType,
	st corev1.ConditionStatus, reason, msg string) {
	for i := range *conds {
		c := &(*conds)[i]
		if c.Type != typ {
			continue
		}
		if c.Status != st {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = st, reason, msg
		return
	}
	*conds = append(*conds, autoscalingv2.HorizontalPodAutoscalerCondition{Type: typ, Status: st, Reason: reason, Message: msg, LastTransitionTime: now})
}
