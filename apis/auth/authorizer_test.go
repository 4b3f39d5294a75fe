package auth

import (
	"errors"
	"testing"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type fakeGraph map[string][]*corev1.Pod

func (g fakeGraph) PodsOnNode(node string) []*corev1.Pod { return g[node] }
func (g fakeGraph) Pod(ns, name string) *corev1.Pod {
	for _, pods := range g {
		for _, p := range pods {
			if p.Namespace == ns && p.Name == name {
				return p
			}
		}
	}
	return nil
}

func (g fakeGraph) PersistentVolume(name string) *corev1.PersistentVolume {
	if name == "pvc-1" {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{apis.LabelVolumeNode: "n1"}}}
	}
	return nil
}

func TestAuthorize(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: corev1.PodSpec{
		NodeName: "n1",
		Volumes: []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "web-data"}}}},
		Containers: []corev1.Container{{Name: "c", Env: []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "web-db"}, Key: "pw"}}}}}},
	}}
	z := &Authorizer{Graph: fakeGraph{"n1": {pod}}}
	admin := User{Name: "user:root", Role: RoleAdmin}
	edit := User{Name: "user:ed", Role: RoleEdit}
	view := User{Name: "user:vi", Role: RoleView}
	scoped := User{Name: "user:sc", Role: RoleEdit, Namespace: "shop"}
	n1 := User{Name: "node:n1", Role: RoleNode, Node: "n1"}
	n2 := User{Name: "node:n2", Role: RoleNode, Node: "n2"}
	res := func(verb, resource, ns, name string) Attributes {
		return Attributes{Verb: verb, Resource: resource, Namespace: ns, Name: name, Namespaced: ns != "" || resource == "pods" || resource == "secrets" || resource == "configmaps"}
	}
	status := func(a Attributes) Attributes { a.Subresource = "status"; return a }
	sub := func(a Attributes, subresource string) Attributes { a.Subresource = subresource; return a }
	logs := sub(res("get", "pods", "default", "web"), "log")
	exec := sub(res("create", "pods", "default", "web"), "exec")
	images := func(verb string) Attributes { return Attributes{Verb: verb, Path: "/cluster/v1/images"} }
	internal := func(a Attributes) Attributes { a.Group, a.Internal, a.Namespaced = "skiff.io", true, false; return a }
	cases := []struct {
		name  string
		user  User
		attrs Attributes
		allow bool
	}{
		{"admin anything", admin, internal(res("delete", "jointokens", "", "x")), true},
		{"admin snapshot", admin, Attributes{Verb: "get", Path: "/cluster/v1/snapshot"}, true},
		{"edit creates pods", edit, res("create", "pods", "default", ""), true},
		{"edit reads secrets", edit, res("get", "secrets", "default", "s"), true},
		{"edit may not touch nodes", edit, res("update", "nodes", "", "n1"), false},
		{"edit may not manage tokens", edit, internal(res("create", "jointokens", "", "")), false},
		{"edit may not snapshot", edit, Attributes{Verb: "get", Path: "/cluster/v1/snapshot"}, false},
		{"edit lists members", edit, Attributes{Verb: "get", Path: "/cluster/v1/members"}, true},
		{"view lists pods everywhere", view, Attributes{Verb: "list", Resource: "pods", Namespaced: true}, true},
		{"view may not delete", view, res("delete", "pods", "default", "x"), false},
		{"view may not read secrets", view, res("get", "secrets", "default", "s"), false},
		{"view reads nodes", view, res("get", "nodes", "", "n1"), true},
		{"scoped edit in its namespace", scoped, res("create", "configmaps", "shop", ""), true},
		{"scoped edit elsewhere", scoped, res("get", "configmaps", "default", "x"), false},
		{"scoped edit across namespaces", scoped, Attributes{Verb: "list", Resource: "pods", Namespaced: true}, false},
		{"scoped edit reads its namespace object", scoped, res("get", "namespaces", "", "shop"), true},
		{"node writes own status", n1, status(res("update", "nodes", "", "n1")), true},
		{"node registers itself", n1, res("create", "nodes", "", "n1"), true},
		{"node may not write another node", n1, status(res("update", "nodes", "", "n2")), false},
		{"node writes status of its pod", n1, status(res("patch", "pods", "default", "web")), true},
		{"node may not write the spec of its pod", n1, res("update", "pods", "default", "web"), false},
		{"other node may not write that pod", n2, status(res("patch", "pods", "default", "web")), false},
		{"node reads the configmap its pod mounts", n1, res("get", "configmaps", "default", "web-config"), true},
		{"node reads the secret its pod uses", n1, res("get", "secrets", "default", "web-db"), true},
		{"another node may not read that secret", n2, res("get", "secrets", "default", "web-db"), false},
		{"node may not read unrelated secrets", n1, res("get", "secrets", "default", "other"), false},
		{"node reads the claim its pod mounts", n1, res("get", "persistentvolumeclaims", "default", "web-data"), true},
		{"another node may not read that claim", n2, res("get", "persistentvolumeclaims", "default", "web-data"), false},
		{"node may not list claims", n1, Attributes{Verb: "list", Resource: "persistentvolumeclaims", Namespaced: true}, false},
		{"node watches volumes", n1, res("watch", "persistentvolumes", "", ""), true},
		{"node releases its local volume", n1, res("update", "persistentvolumes", "", "pvc-1"), true},
		{"node may not change another node's volume", n2, res("update", "persistentvolumes", "", "pvc-1"), false},
		{"node may not delete volumes", n1, res("delete", "persistentvolumes", "", "pvc-1"), false},
		{"node may not list secrets", n1, Attributes{Verb: "list", Resource: "secrets", Namespaced: true}, false},
		{"node watches services", n1, Attributes{Verb: "watch", Resource: "services", Namespaced: true}, true},
		{"node writes events", n1, res("create", "events", "default", ""), true},
		{"node may not create pods", n1, res("create", "pods", "default", ""), false},
		// Usage is scraped from the nodes by the leader: nodes write none.
		{"node may not write usage", n1, metrics(res("update", "nodes", "", "n1")), false},
		{"node may not list usage", n1, metrics(Attributes{Verb: "list", Resource: "pods", Namespaced: true}), false},
		{"node may not use apps", n1, Attributes{Verb: "list", Group: "apps", Resource: "deployments", Namespaced: true}, false},
		{"node renews its certificate", n1, Attributes{Verb: "create", Path: "/cluster/v1/renew"}, true},
		{"node may not create tokens", n1, Attributes{Verb: "create", Path: "/cluster/v1/tokens"}, false},
		{"server does anything", User{Name: "server:m1", Role: RoleServer}, internal(res("create", "members", "", "")), true},
		{"admin reads logs", admin, logs, true},
		{"admin execs", admin, exec, true},
		{"edit reads logs", edit, logs, true},
		{"edit execs", edit, exec, true},
		{"view reads logs", view, logs, true},
		{"view may not exec", view, exec, false},
		{"scoped edit execs in its namespace", scoped, sub(res("create", "pods", "shop", "web"), "exec"), true},
		{"scoped edit may not exec elsewhere", scoped, exec, false},
		{"node may not read logs, even of its pods", n1, logs, false},
		{"node may not exec, even into its pods", n1, exec, false},
		{"other node may not read logs", n2, logs, false},
		{"server execs", User{Name: "server:m1", Role: RoleServer}, exec, true},
		{"view lists images", view, images("get"), true},
		{"view may not import images", view, images("create"), false},
		{"edit imports images", edit, images("create"), true},
		{"admin imports images", admin, images("create"), true},
		{"scoped edit may not import images", scoped, images("create"), false},
		{"scoped edit may not list images", scoped, images("get"), false},
		{"node may not list images", n1, images("get"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := z.Authorize(tc.user, tc.attrs)
			if (err == nil) != tc.allow {
				t.Fatalf("allowed = %v, want %v (%v)", err == nil, tc.allow, err)
			}
			var fe *ForbiddenError
			if err != nil && (!errors.As(err, &fe) || fe.Reason == "") {
				t.Fatalf("denial without a reason: %v", err)
			}
		})
	}
}

func metrics(a Attributes) Attributes {
	a.Group = "metrics.k8s.io"
	return a
}
