package defaults

import (
	"github.com/skiffhq/skiff/apis"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// HorizontalPodAutoscaler defaults minReplicas to 1 and, with no metrics,
// targets 80% average CPU utilization, as autoscaling/v2 does.
func HorizontalPodAutoscaler(obj apis.Object) {
	h := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if h.Spec.MinReplicas == nil {
		h.Spec.MinReplicas = int32Ptr(1)
	}
	if len(h.Spec.Metrics) == 0 {
		h.Spec.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: int32Ptr(80)},
			},
		}}
	}
}
