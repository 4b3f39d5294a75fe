package metricsstore

import (
	"context"
	"testing"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

func podMetrics(ns, name, app string) *metricsv1beta1.PodMetrics {
	return &metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app}}}
}

func names(recs []storage.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Object().GetNamespace()+"/"+r.Object().GetName())
	}
	return out
}

func TestStoreByNode(t *testing.T) {
	ctx := context.Background()
	pods, _ := resources.Default().ByKind("PodMetrics")
	nodes, _ := resources.Default().ByKind("NodeMetrics")
	s := New()
	s.Put("n1", &Report{Node: &metricsv1beta1.NodeMetrics{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		Pods: []*metricsv1beta1.PodMetrics{podMetrics("default", "web-1", "web"), podMetrics("kube", "dns", "dns")}})
	s.Put("n2", &Report{Pods: []*metricsv1beta1.PodMetrics{podMetrics("default", "web-2", "web")}})

	if r, err := s.Get(ctx, pods, "default", "web-2"); err != nil || r.Object().GetName() != "web-2" || r.Kind() != "PodMetrics" {
		t.Fatalf("get web-2: %v %v", r, err)
	}
	if _, err := s.Get(ctx, nodes, "", "n2"); !apierrors.IsNotFound(err) {
		t.Fatalf("n2 sent no node report: err %v", err)
	}
	sel := storage.Selection{Namespace: "default", Labels: labels.SelectorFromSet(labels.Set{"app": "web"})}
	if got := names(s.List(ctx, pods, sel)); len(got) != 2 || got[0] != "default/web-1" || got[1] != "default/web-2" {
		t.Fatalf("list app=web in default: %v", got)
	}
	// A new report replaces the node's pods: web-1 stopped.
	s.Put("n1", &Report{Pods: []*metricsv1beta1.PodMetrics{podMetrics("kube", "dns", "dns")}})
	if _, err := s.Get(ctx, pods, "default", "web-1"); !apierrors.IsNotFound(err) {
		t.Fatalf("web-1 left n1's report but is still there: %v", err)
	}
	// A node that is gone takes its pods' metrics along.
	s.Retain(func(n string) bool { return n == "n1" })
	if got := names(s.List(ctx, pods, storage.Selection{})); len(got) != 1 || got[0] != "kube/dns" {
		t.Fatalf("after n2 left: %v", got)
	}
	if r, _ := s.Get(ctx, pods, "kube", "dns"); r == nil || len(r.JSON()) == 0 || string(r.JSON()[:1]) != "{" {
		t.Fatalf("record JSON: %v", r)
	}
}
