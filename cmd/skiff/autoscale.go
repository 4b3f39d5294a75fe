package main

import (
	"fmt"

	"github.com/spf13/cobra"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newAutoscaleCmd(g *globals) *cobra.Command {
	var minReplicas, maxReplicas, cpuPercent int32
	var name string
	cmd := &cobra.Command{
		Use:     "autoscale TYPE/NAME --max N [--min N] [--cpu-percent P]",
		Short:   "Create a HorizontalPodAutoscaler for a Deployment or ReplicaSet",
		Example: "  skiff autoscale deployment web --min 2 --max 10 --cpu-percent 50",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("max") {
				return fmt.Errorf("--max is required")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, target, err := workloadArg(c.Registry(), args, "Deployment", "ReplicaSet")
			if err != nil {
				return err
			}
			if name == "" {
				name = target
			}
			hpa := &autoscalingv2.HorizontalPodAutoscaler{
				TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: g.ns()},
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
					ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: res.GroupVersion(), Kind: res.Kind, Name: target},
					MinReplicas:    &minReplicas, MaxReplicas: maxReplicas,
					Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
						Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &cpuPercent}}}},
				},
			}
			obj, err := c.Create(cmd.Context(), hpa)
			if err != nil {
				return err
			}
			hpaRes, _ := c.Registry().ByKind("HorizontalPodAutoscaler")
			fmt.Fprintf(cmd.OutOrStdout(), "%s autoscaled\n", kindName(hpaRes, obj))
			return nil
		},
	}
	cmd.Flags().Int32Var(&minReplicas, "min", 1, "the fewest replicas")
	cmd.Flags().Int32Var(&maxReplicas, "max", 0, "the most replicas (required)")
	cmd.Flags().Int32Var(&cpuPercent, "cpu-percent", 80, "the target average CPU use, in percent of the pods' requests")
	cmd.Flags().StringVar(&name, "name", "", "the autoscaler's name (default: the target's)")
	g.addNamespaceFlag(cmd)
	return cmd
}
