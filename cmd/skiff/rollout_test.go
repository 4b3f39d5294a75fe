package main

import (
	"strings"
	"testing"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/daemon"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRolloutState(t *testing.T) {
	three := int32(3)
	d := func(gen, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: gen},
			Spec: appsv1.DeploymentSpec{Replicas: &three}, Status: func() appsv1.DeploymentStatus { st.ObservedGeneration = observed; return st }()}
	}
	cases := []struct {
		name    string
		d       *appsv1.Deployment
		want    string
		done    bool
		wantErr bool
	}{
		{"not observed", d(2, 1, appsv1.DeploymentStatus{}), "spec update to be observed", false, false},
		{"updating", d(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1}), "1 out of 3 new replicas", false, false},
		{"old pending", d(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3}), "1 old replicas are pending termination", false, false},
		{"not available", d(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}), "2 of 3 updated replicas are available", false, false},
		{"done", d(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}), "successfully rolled out", true, false},
		{"deadline", d(2, 2, appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing,
			Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet web-x has timed out progressing."}}}), "", false, true},
	}
	for _, c := range cases {
		msg, done, err := rolloutState(c.d)
		if (err != nil) != c.wantErr || done != c.done || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %q %v %v", c.name, msg, done, err)
		}
	}
}

func TestWorkloadArg(t *testing.T) {
	reg := resources.Default()
	for _, args := range [][]string{{"deployment/web"}, {"deploy", "web"}, {"deployments.apps/web"}} {
		res, name, err := workloadArg(reg, args, "Deployment", "ReplicaSet")
		if err != nil || res.Kind != "Deployment" || name != "web" {
			t.Errorf("%v: %v %q %v", args, res, name, err)
		}
	}
	for _, args := range [][]string{{"web"}, {"pod/web"}, {"nosuch/web"}} {
		if _, _, err := workloadArg(reg, args, "Deployment", "ReplicaSet"); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestParseNodeFlags(t *testing.T) {
	var cfg daemon.AgentConfig
	if err := parseNodeFlags(&cfg, []string{"zone=a", "disk=ssd"}, []string{"dedicated=db:NoSchedule", "gpu:NoExecute"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Labels["zone"] != "a" || cfg.Labels["disk"] != "ssd" || len(cfg.Taints) != 2 ||
		cfg.Taints[0] != (corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}) ||
		cfg.Taints[1] != (corev1.Taint{Key: "gpu", Effect: corev1.TaintEffectNoExecute}) {
		t.Fatalf("labels %v taints %v", cfg.Labels, cfg.Taints)
	}
	for _, bad := range [][2][]string{{{"novalue"}, nil}, {{"=x"}, nil}, {nil, {"k=v"}}, {nil, {"k=v:Sometimes"}}} {
		if err := parseNodeFlags(&daemon.AgentConfig{}, bad[0], bad[1]); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
