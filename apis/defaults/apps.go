package defaults

import (
	"github.com/skiffhq/skiff/apis"
	appsv1 "k8s.io/api/apps/v1"
)

// Deployment defaults a Deployment the way apps/v1 does.
func Deployment(obj apis.Object) {
	d := obj.(*appsv1.Deployment)
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = int32Ptr(1)
	}
	if d.Spec.Strategy.Type == "" {
		d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if d.Spec.Strategy.RollingUpdate == nil {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if d.Spec.Strategy.RollingUpdate.MaxSurge == nil {
			v := intOrPercent25
			d.Spec.Strategy.RollingUpdate.MaxSurge = &v
		}
		if d.Spec.Strategy.RollingUpdate.MaxUnavailable == nil {
			v := intOrPercent25
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = &v
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = int32Ptr(10)
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = int32Ptr(600)
	}
	PodSpec(&d.Spec.Template.Spec)
}

// ReplicaSet defaults a ReplicaSet.
func ReplicaSet(obj apis.Object) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = int32Ptr(1)
	}
	PodSpec(&rs.Spec.Template.Spec)
}

func int32Ptr(v int32) *int32 { return &v }
