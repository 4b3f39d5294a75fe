package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const pausedWeb = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: skiff.local/echo:1
`

// The rollout verbs, cordon/uncordon and describe by selector on one
// master without agents: the Deployment controller and the scheduler act
// on them whether or not the pods ever run.
func TestRolloutVerbsCordonAndDescribeBySelector(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a master")
	}
	ctx := context.Background()
	m := newMaster(t)
	m.start("--init")
	admin := filepath.Join(m.dir, "admin.conf")
	c := m.client(t)
	rsRes, _ := c.Registry().ByKind("ReplicaSet")
	deployRes, _ := c.Registry().ByKind("Deployment")
	mustCLI(t, admin, pausedWeb, "apply", "-f", "-")

	// revisions maps each of web's ReplicaSets' revision to its image and
	// restartedAt annotation.
	revisions := func() (map[string]string, error) {
		l, err := c.List(ctx, rsRes, client.ListOptions{Namespace: "default", LabelSelector: "app=web"})
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, o := range l.Items {
			rs := o.(*appsv1.ReplicaSet)
			out[rs.Annotations["deployment.kubernetes.io/revision"]] = rs.Spec.Template.Spec.Containers[0].Image +
				" " + rs.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
		}
		return out, nil
	}
	wantRevisions := func(what string, n int) map[string]string {
		t.Helper()
		var got map[string]string
		waitFor(t, what, 20*time.Second, func() error {
			var err error
			if got, err = revisions(); err != nil {
				return err
			}
			if len(got) != n {
				return fmt.Errorf("revisions %v", got)
			}
			return nil
		})
		return got
	}
	wantRevisions("revision 1", 1)

	// Paused, a new image makes no ReplicaSet; resumed, it does.
	mustCLI(t, admin, "", "rollout", "pause", "deployment/web")
	mustCLI(t, admin, "", "set", "image", "deployment/web", "web=skiff.local/echo:2")
	time.Sleep(time.Second)
	if got, err := revisions(); err != nil || len(got) != 1 {
		t.Fatalf("a paused Deployment rolled out: %v %v", got, err)
	}
	mustCLI(t, admin, "", "rollout", "resume", "deployment/web")
	if got := wantRevisions("revision 2 after resume", 2); !strings.HasPrefix(got["2"], "skiff.local/echo:2 ") {
		t.Fatalf("revision 2: %v", got)
	}

	// A restart is a new revision of the same image.
	mustCLI(t, admin, "", "rollout", "restart", "deployment/web")
	got := wantRevisions("revision 3 after restart", 3)
	if !strings.HasPrefix(got["3"], "skiff.local/echo:2 ") || strings.HasSuffix(got["3"], " ") {
		t.Fatalf("revision 3 is not a restart of echo:2: %v", got)
	}
	hist := mustCLI(t, admin, "", "rollout", "history", "deployment/web")
	for _, want := range []string{"REVISION", "skiff.local/echo:1", "skiff.local/echo:2"} {
		if !strings.Contains(hist, want) {
			t.Fatalf("history lacks %q:\n%s", want, hist)
		}
	}

	// Back to revision 1: its template, which becomes the newest revision.
	mustCLI(t, admin, "", "rollout", "undo", "deployment/web", "--to-revision", "1")
	waitFor(t, "the template of revision 1 back", 20*time.Second, func() error {
		o, err := c.Get(ctx, deployRes, "default", "web")
		if err != nil {
			return err
		}
		tpl := o.(*appsv1.Deployment).Spec.Template
		if tpl.Spec.Containers[0].Image != "skiff.local/echo:1" || tpl.Annotations["kubectl.kubernetes.io/restartedAt"] != "" {
			return fmt.Errorf("template %s %v", tpl.Spec.Containers[0].Image, tpl.Annotations)
		}
		revs, err := revisions()
		if err != nil {
			return err
		}
		if _, ok := revs["1"]; ok || !strings.HasPrefix(revs["4"], "skiff.local/echo:1 ") {
			return fmt.Errorf("revisions %v", revs)
		}
		return nil
	})
	if _, errOut, ok := cli(t, admin, "", "rollout", "undo", "deployment/web", "--to-revision", "9"); ok || !strings.Contains(errOut, "9") {
		t.Fatalf("undo to a revision that does not exist: ok %v, %q", ok, errOut)
	}

	// describe takes a selector: every pod of web, none of another app.
	mustCLI(t, admin, "apiVersion: v1\nkind: Pod\nmetadata: {name: other, labels: {app: other}}\nspec:\n  containers: [{name: c, image: skiff.local/echo:1}]\n", "apply", "-f", "-")
	podRes, _ := c.Registry().ByKind("Pod")
	var webPods []string
	waitFor(t, "web's pods", 20*time.Second, func() error {
		l, err := c.List(ctx, podRes, client.ListOptions{Namespace: "default", LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		webPods = webPods[:0]
		for _, o := range l.Items {
			if o.GetDeletionTimestamp() == nil {
				webPods = append(webPods, o.GetName())
			}
		}
		if len(webPods) < 2 {
			return fmt.Errorf("%d pods", len(webPods))
		}
		return nil
	})
	desc := mustCLI(t, admin, "", "describe", "pods", "-l", "app=web")
	for _, name := range webPods {
		if !strings.Contains(desc, name) {
			t.Fatalf("describe pods -l app=web lacks %s:\n%s", name, desc)
		}
	}
	if !strings.Contains(desc, "app=web") || strings.Contains(desc, "app=other") {
		t.Fatalf("describe pods -l app=web shows pod other:\n%s", desc)
	}

	// cordon and uncordon flip a node's spec.unschedulable.
	nodeRes, _ := c.Registry().ByKind("Node")
	if _, err := c.Create(ctx, &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	unschedulable := func() bool {
		o, err := c.Get(ctx, nodeRes, "", "n1")
		if err != nil {
			t.Fatal(err)
		}
		return o.(*corev1.Node).Spec.Unschedulable
	}
	mustCLI(t, admin, "", "cordon", "n1")
	if !unschedulable() {
		t.Fatal("cordon left n1 schedulable")
	}
	mustCLI(t, admin, "", "uncordon", "n1")
	if unschedulable() {
		t.Fatal("uncordon left n1 unschedulable")
	}
}
