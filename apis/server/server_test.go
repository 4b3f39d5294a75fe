package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/raftfsm"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type fixture struct {
	t      *testing.T
	srv    *httptest.Server
	c      *client.Client
	warned []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reg := resources.Default()
	store := raftfsm.NewMemStore(raftfsm.FSMConfig{Registry: reg, History: 8})
	f := &fixture{t: t}
	f.srv = httptest.NewServer(server.New(server.Config{Store: store, Registry: reg}))
	t.Cleanup(f.srv.Close)
	c, err := client.New(&client.Config{Servers: []string{f.srv.URL}}, client.Options{Warn: func(m string) { f.warned = append(f.warned, m) }})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return f
}

// send does a raw request and returns the status code and decoded body.
func (f *fixture) send(method, path, contentType, body string) (int, map[string]any) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func res(t *testing.T, name string) *resources.Resource {
	r, err := resources.Default().Resolve(name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBadInputGetsAClearErrorAndStoresNothing(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, method, path, body string
		code                     int
		mention                  string
	}{
		{"unknown field", "POST", "/api/v1/namespaces/default/configmaps",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"dta":{"k":"v"}}`, 400, `dta`},
		{"invalid name", "POST", "/api/v1/namespaces/default/configmaps",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}`, 422, "metadata.name"},
		{"missing name", "POST", "/api/v1/namespaces/default/configmaps",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}`, 422, "metadata.name"},
		{"wrong kind for the path", "POST", "/api/v1/namespaces/default/configmaps",
			`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"}}`, 400, "Secret"},
		{"wrong type", "POST", "/api/v1/namespaces/default/configmaps",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":["x"]}`, 400, "data"},
		{"missing namespace", "POST", "/api/v1/namespaces/nope/configmaps",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`, 404, "nope"},
		{"namespace mismatch", "POST", "/api/v1/namespaces/default/configmaps",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"other"}}`, 400, "other"},
		{"not json", "POST", "/api/v1/namespaces/default/configmaps", `{{{`, 400, ""},
		{"too large", "POST", "/api/v1/namespaces/default/configmaps",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"` + strings.Repeat("x", 3<<20) + `"}}`, 413, ""},
		{"bad label selector", "GET", "/api/v1/configmaps?labelSelector=a%3D%3D%3Db", "", 400, "labelSelector"},
		{"unsupported field selector", "GET", "/api/v1/configmaps?fieldSelector=spec.foo%3Db", "", 400, "spec.foo"},
		{"unknown resource", "GET", "/api/v1/gizmos", "", 404, ""},
		{"invalid deployment", "POST", "/apis/apps/v1/namespaces/default/deployments",
			`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"y"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`, 422, "selector"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := f.send(tc.method, tc.path, "application/json", tc.body)
			if code != tc.code {
				t.Fatalf("code = %d, want %d (%v)", code, tc.code, body)
			}
			if body["kind"] != "Status" {
				t.Fatalf("answer is not a Status: %v", body)
			}
			if msg, _ := body["message"].(string); !strings.Contains(msg, tc.mention) {
				t.Fatalf("message %q does not mention %q", msg, tc.mention)
			}
		})
	}
	list, err := f.c.List(context.Background(), res(t, "cm"), client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Fatalf("bad input stored %d objects", len(list.Items))
	}
}

func configMap(name string, labels map[string]string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels}, Data: data}
}

func TestCRUDConflictPatchAndPaging(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cm := res(t, "configmaps")
	created, err := f.c.Create(ctx, configMap("demo", map[string]string{"app": "web"}, map[string]string{"a": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	if created.GetUID() == "" || created.GetResourceVersion() == "" || created.GetCreationTimestamp().Time.IsZero() {
		t.Fatalf("server did not stamp the object: %+v", created)
	}
	if _, err := f.c.Create(ctx, configMap("demo", nil, nil)); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: %v, want AlreadyExists", err)
	}
	// Update with the current version works; with the old one it conflicts.
	upd := created.DeepCopyObject().(*corev1.ConfigMap)
	upd.Data["a"] = "2"
	updated, err := f.c.Update(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetResourceVersion() == created.GetResourceVersion() || updated.GetUID() != created.GetUID() {
		t.Fatalf("update: rv %s -> %s, uid %s -> %s", created.GetResourceVersion(), updated.GetResourceVersion(), created.GetUID(), updated.GetUID())
	}
	stale := created.DeepCopyObject().(*corev1.ConfigMap)
	stale.Data["a"] = "3"
	if _, err := f.c.Update(ctx, stale); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: %v, want Conflict", err)
	}
	// An update that changes nothing writes nothing.
	same, err := f.c.Update(ctx, updated.DeepCopyObject().(*corev1.ConfigMap))
	if err != nil || same.GetResourceVersion() != updated.GetResourceVersion() {
		t.Fatalf("no-op update: rv %s -> %s, err %v", updated.GetResourceVersion(), same.GetResourceVersion(), err)
	}
	// Merge patch.
	patched, err := f.c.Patch(ctx, cm, "default", "demo", client.MergePatch, []byte(`{"data":{"b":"x","a":null}}`), false)
	if err != nil {
		t.Fatal(err)
	}
	if d := patched.(*corev1.ConfigMap).Data; d["b"] != "x" || d["a"] != "" {
		t.Fatalf("patched data = %v", d)
	}
	// A patch introducing an unknown field is refused.
	if _, err := f.c.Patch(ctx, cm, "default", "demo", client.MergePatch, []byte(`{"dat":{"b":"y"}}`), false); !apierrors.IsBadRequest(err) {
		t.Fatalf("patch with unknown field: %v, want BadRequest", err)
	}
	// Paging and selectors.
	for i := 0; i < 5; i++ {
		if _, err := f.c.Create(ctx, configMap("page-"+string(rune('a'+i)), map[string]string{"app": "db"}, nil)); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	opts := client.ListOptions{LabelSelector: "app=db", Limit: 2}
	for {
		page, err := f.c.List(ctx, cm, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Items {
			names = append(names, o.GetName())
		}
		if page.Continue == "" {
			break
		}
		opts.Continue = page.Continue
	}
	if strings.Join(names, ",") != "page-a,page-b,page-c,page-d,page-e" {
		t.Fatalf("paged list = %v", names)
	}
	one, err := f.c.List(ctx, cm, client.ListOptions{FieldSelector: "metadata.name=demo"})
	if err != nil || len(one.Items) != 1 {
		t.Fatalf("field selector: %v, %v", one, err)
	}
	// Delete with a wrong precondition fails; without, it works.
	wrong := "1"
	if _, err := f.c.Delete(ctx, cm, "default", "demo", &metav1.Preconditions{ResourceVersion: &wrong}); !apierrors.IsConflict(err) {
		t.Fatalf("delete with stale precondition: %v", err)
	}
	if _, err := f.c.Delete(ctx, cm, "default", "demo", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Get(ctx, cm, "default", "demo"); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestStatusSubresourceAndGeneration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	replicas := int32(2)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "echo:1"}}},
			},
		},
		Status: appsv1.DeploymentStatus{Replicas: 99},
	}
	obj, err := f.c.Create(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*appsv1.Deployment)
	if got.Generation != 1 || got.Status.Replicas != 0 {
		t.Fatalf("create: generation %d, status.replicas %d (want 1, 0)", got.Generation, got.Status.Replicas)
	}
	// Status writes move only the status.
	st := got.DeepCopy()
	st.Status.Replicas = 2
	st.Spec.Replicas = &[]int32{7}[0]
	obj, err = f.c.UpdateStatus(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	got = obj.(*appsv1.Deployment)
	if got.Status.Replicas != 2 || *got.Spec.Replicas != 2 || got.Generation != 1 {
		t.Fatalf("status update: status %d spec %d generation %d", got.Status.Replicas, *got.Spec.Replicas, got.Generation)
	}
	// A status write with the same status writes nothing, whatever else
	// the writer sent.
	again := got.DeepCopy()
	again.Spec.Replicas = &[]int32{9}[0]
	obj, err = f.c.UpdateStatus(ctx, again)
	if err != nil || obj.GetResourceVersion() != got.ResourceVersion {
		t.Fatalf("no-op status write: rv %s -> %s, err %v", got.ResourceVersion, obj.GetResourceVersion(), err)
	}
	// The main endpoint keeps the status and bumps the generation on spec
	// changes only.
	sp := got.DeepCopy()
	sp.Spec.Replicas = &[]int32{3}[0]
	sp.Status.Replicas = 0
	obj, err = f.c.Update(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	got = obj.(*appsv1.Deployment)
	if got.Generation != 2 || got.Status.Replicas != 2 {
		t.Fatalf("spec update: generation %d status %d", got.Generation, got.Status.Replicas)
	}
	lb := got.DeepCopy()
	lb.Labels = map[string]string{"tier": "front"}
	obj, err = f.c.Update(ctx, lb)
	if err != nil {
		t.Fatal(err)
	}
	if obj.GetGeneration() != 2 {
		t.Fatalf("label change moved generation to %d", obj.GetGeneration())
	}
	// Strategic merge patch of a container list merges by name.
	obj, err = f.c.Patch(ctx, res(t, "deploy"), "default", "web", client.StrategicPatch,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"echo:2"}]}}}}`), false)
	if err != nil {
		t.Fatal(err)
	}
	if img := obj.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image; img != "echo:2" {
		t.Fatalf("image after strategic patch = %s", img)
	}
}

func TestWatchResumeAndTooOld(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cm := res(t, "cm")
	first, err := f.c.Create(ctx, configMap("w0", map[string]string{"app": "web"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.c.Watch(ctx, cm, client.ListOptions{Namespace: "default", ResourceVersion: first.GetResourceVersion(), LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := f.c.Create(ctx, configMap("w1", map[string]string{"app": "web"}, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Create(ctx, configMap("other", map[string]string{"app": "db"}, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Delete(ctx, cm, "default", "w0", nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ADDED w1", "DELETED w0"} {
		select {
		case ev := <-w.Events():
			if got := ev.Type + " " + ev.Object.GetName(); got != want {
				t.Fatalf("event %q, want %q", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("no event, want %q", want)
		}
	}
	// A watch from the start replays the current state as ADDED events.
	all, err := f.c.Watch(ctx, cm, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Stop()
	seen := map[string]bool{}
	for len(seen) < 2 {
		ev := <-all.Events()
		seen[ev.Type+" "+ev.Object.GetName()] = true
	}
	if !seen["ADDED w1"] || !seen["ADDED other"] {
		t.Fatalf("initial events = %v", seen)
	}
	// Push the first versions out of the 8-event history: resuming from
	// there is 410 Gone, which the client reports as Expired.
	for i := 0; i < 10; i++ {
		if _, err := f.c.Create(ctx, configMap(fmt.Sprint("fill-", i), nil, nil)); err != nil {
			t.Fatal(err)
		}
	}
	code, body := f.send("GET", "/api/v1/configmaps?watch=true&resourceVersion="+first.GetResourceVersion(), "", "")
	if code != 410 || body["reason"] != "Expired" {
		t.Fatalf("watch from an evicted version: %d %v", code, body)
	}
	if _, err := f.c.Watch(ctx, cm, client.ListOptions{ResourceVersion: first.GetResourceVersion()}); !apierrors.IsResourceExpired(err) {
		t.Fatalf("client watch from an evicted version: %v", err)
	}
	code, body = f.send("GET", "/api/v1/configmaps?watch=true&resourceVersion=abc", "", "")
	if code != 400 || body["kind"] != "Status" {
		t.Fatalf("bogus resourceVersion: %d %v", code, body)
	}
}

func TestDiscoveryAndHealth(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/api", "/api/v1", "/apis", "/apis/apps/v1", "/apis/autoscaling/v2", "/healthz", "/readyz", "/version"} {
		resp, err := http.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	code, body := f.send("GET", "/api/v1", "", "")
	raw, _ := json.Marshal(body)
	if code != 200 || !bytes.Contains(raw, []byte(`"pods"`)) || !bytes.Contains(raw, []byte(`"cm"`)) {
		t.Fatalf("/api/v1: %s", raw)
	}
}

func TestUnactedFieldsWarn(t *testing.T) {
	f := newFixture(t)
	// The agent does not act on a container's securityContext yet: the
	// warning says so, naming it. A ConfigMap is acted on in full.
	privileged := true
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
			SecurityContext: &corev1.SecurityContext{Privileged: &privileged}}}}}
	if _, err := f.c.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if len(f.warned) != 1 || !strings.HasPrefix(f.warned[0], "spec.containers[0].securityContext: accepted, but skiff does not act") {
		t.Fatalf("warnings for a pod = %q", f.warned)
	}
	f.warned = nil
	withClaim := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", VolumeMounts: []corev1.VolumeMount{{Name: "d", MountPath: "/d"}}}},
			Volumes: []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data", ReadOnly: true}}}}}}
	if _, err := f.c.Create(context.Background(), withClaim); err != nil {
		t.Fatal(err)
	}
	if len(f.warned) != 0 {
		t.Fatalf("warnings for a pod mounting a claim = %q", f.warned)
	}
	if _, err := f.c.Create(context.Background(), configMap("cfg", map[string]string{"a": "b"}, map[string]string{"k": "v"})); err != nil {
		t.Fatal(err)
	}
	if len(f.warned) != 0 {
		t.Fatalf("warnings for a configmap = %q", f.warned)
	}
}

func TestFinalizersHoldADeletedObject(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cm := res(t, "configmaps")
	held := configMap("held", nil, nil)
	held.Finalizers = []string{"example.com/hold"}
	if _, err := f.c.Create(ctx, held); err != nil {
		t.Fatal(err)
	}
	// The delete only marks it.
	if _, err := f.c.Delete(ctx, cm, "default", "held", nil); err != nil {
		t.Fatal(err)
	}
	got, err := f.c.Get(ctx, cm, "default", "held")
	if err != nil || got.GetDeletionTimestamp() == nil {
		t.Fatalf("after delete: %v, err %v; want it kept with a deletionTimestamp", got, err)
	}
	// No new finalizer while it is being deleted.
	more := got.DeepCopyObject().(*corev1.ConfigMap)
	more.Finalizers = append(more.Finalizers, "example.com/more")
	if _, err := f.c.Update(ctx, more); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.finalizers") {
		t.Fatalf("adding a finalizer while deleting: %v, want Invalid naming metadata.finalizers", err)
	}
	// Data may still change; removing the last finalizer deletes it.
	if _, err := f.c.Patch(ctx, cm, "default", "held", client.MergePatch, []byte(`{"data":{"k":"v"}}`), false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Get(ctx, cm, "default", "held"); err != nil {
		t.Fatalf("after a patch keeping the finalizer: %v", err)
	}
	if _, err := f.c.Patch(ctx, cm, "default", "held", client.MergePatch, []byte(`{"metadata":{"finalizers":null}}`), false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Get(ctx, cm, "default", "held"); !apierrors.IsNotFound(err) {
		t.Fatalf("after its last finalizer was removed: %v, want NotFound", err)
	}
}

func TestPropagationPolicy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cm := res(t, "configmaps")
	for _, name := range []string{"orphaned", "bad"} {
		if _, err := f.c.Create(ctx, configMap(name, nil, nil)); err != nil {
			t.Fatal(err)
		}
	}
	// Orphan: the orphan finalizer holds it until the garbage collector
	// has released its dependents.
	orphan := metav1.DeletePropagationOrphan
	if _, err := f.c.DeleteWithOptions(ctx, cm, "default", "orphaned", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
		t.Fatal(err)
	}
	got, err := f.c.Get(ctx, cm, "default", "orphaned")
	if err != nil || got.GetDeletionTimestamp() == nil || strings.Join(got.GetFinalizers(), ",") != metav1.FinalizerOrphanDependents {
		t.Fatalf("after an Orphan delete: %v, err %v", got, err)
	}
	// An unknown policy is refused, and nothing changes.
	bogus := metav1.DeletionPropagation("Sideways")
	_, err = f.c.DeleteWithOptions(ctx, cm, "default", "bad", metav1.DeleteOptions{PropagationPolicy: &bogus})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "propagationPolicy") {
		t.Fatalf("unknown policy: %v, want BadRequest naming propagationPolicy", err)
	}
	if got, err := f.c.Get(ctx, cm, "default", "bad"); err != nil || got.GetDeletionTimestamp() != nil {
		t.Fatalf("after a refused delete: %v, err %v", got, err)
	}
	// A kind the collector does not track: deleted, with a warning.
	ns := res(t, "namespaces")
	if _, err := f.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "scratch"}}); err != nil {
		t.Fatal(err)
	}
	f.warned = nil
	if _, err := f.c.DeleteWithOptions(ctx, ns, "", "scratch", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Get(ctx, ns, "", "scratch"); !apierrors.IsNotFound(err) || len(f.warned) != 1 || !strings.Contains(f.warned[0], "Orphan") {
		t.Fatalf("namespace deleted with Orphan: get %v, warnings %q", err, f.warned)
	}
}

func service(name, clusterIP string, typ corev1.ServiceType, nodePort int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, NodePort: nodePort}}},
	}
}

func TestServiceClusterIPsAndNodePorts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svcs := res(t, "services")
	cidr := netip.MustParsePrefix(server.DefaultServiceCIDR)
	create := func(s *corev1.Service) (*corev1.Service, error) {
		obj, err := f.c.Create(ctx, s)
		if err != nil {
			return nil, err
		}
		return obj.(*corev1.Service), nil
	}
	a, err := create(service("a", "", "", 0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := create(service("b", "", corev1.ServiceTypeNodePort, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*corev1.Service{a, b} {
		ip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if err != nil || !cidr.Contains(ip) || len(s.Spec.ClusterIPs) != 1 || s.Spec.ClusterIPs[0] != s.Spec.ClusterIP {
			t.Fatalf("%s: clusterIP %q clusterIPs %v, want one address of %s", s.Name, s.Spec.ClusterIP, s.Spec.ClusterIPs, cidr)
		}
	}
	if a.Spec.ClusterIP == b.Spec.ClusterIP {
		t.Fatalf("both got %s", a.Spec.ClusterIP)
	}
	if np := b.Spec.Ports[0].NodePort; np < 30000 || np > 32767 {
		t.Fatalf("node port %d, want one of 30000-32767", np)
	}
	if a.Spec.Ports[0].NodePort != 0 {
		t.Fatalf("a ClusterIP service got node port %d", a.Spec.Ports[0].NodePort)
	}
	// Applying the manifest again (no clusterIP, no nodePort) keeps both.
	again := service("b", "", corev1.ServiceTypeNodePort, 0)
	again.ResourceVersion = b.ResourceVersion
	upd, err := f.c.Update(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if u := upd.(*corev1.Service); u.Spec.ClusterIP != b.Spec.ClusterIP || u.Spec.Ports[0].NodePort != b.Spec.Ports[0].NodePort {
		t.Fatalf("update without them: %s/%d, want %s/%d kept", u.Spec.ClusterIP, u.Spec.Ports[0].NodePort, b.Spec.ClusterIP, b.Spec.Ports[0].NodePort)
	}
	// Bad requests, each naming the field, storing nothing.
	for _, tc := range []struct {
		svc   *corev1.Service
		field string
	}{
		{service("taken", a.Spec.ClusterIP, "", 0), "spec.clusterIP"},
		{service("outside", "192.168.7.7", "", 0), "spec.clusterIP"},
		{service("network", cidr.Addr().String(), "", 0), "spec.clusterIP"},
		{service("port-taken", "", corev1.ServiceTypeNodePort, b.Spec.Ports[0].NodePort), "spec.ports[0].nodePort"},
		{service("port-outside", "", corev1.ServiceTypeNodePort, 8080), "spec.ports[0].nodePort"},
	} {
		_, err := create(tc.svc)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want Invalid naming %s", tc.svc.Name, err, tc.field)
		}
		if _, err := f.c.Get(ctx, svcs, "default", tc.svc.Name); !apierrors.IsNotFound(err) {
			t.Errorf("%s stored after a refusal: %v", tc.svc.Name, err)
		}
	}
	// A requested address that is free is honoured; a deleted Service
	// frees its address and node port.
	if _, err := f.c.Delete(ctx, svcs, "default", "a", nil); err != nil {
		t.Fatal(err)
	}
	reuse, err := create(service("reuse", a.Spec.ClusterIP, corev1.ServiceTypeNodePort, 0))
	if err != nil || reuse.Spec.ClusterIP != a.Spec.ClusterIP {
		t.Fatalf("requesting a freed address: %v %v", reuse, err)
	}
	headless, err := create(service("headless", "None", "", 0))
	if err != nil || headless.Spec.ClusterIP != "None" {
		t.Fatalf("headless: %v %v", headless, err)
	}
}

func TestEvictionHonoursDisruptionBudgets(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	podsRes := res(t, "pods")
	for i := range 3 {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "echo"}}}}
		obj, err := f.c.Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		p = obj.(*corev1.Pod)
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if _, err := f.c.UpdateStatus(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// Bad budgets are refused, naming the field.
	for _, bad := range []string{
		`{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"both"},"spec":{"minAvailable":1,"maxUnavailable":1,"selector":{"matchLabels":{"app":"web"}}}}`,
		`{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"pct"},"spec":{"minAvailable":"150%","selector":{"matchLabels":{"app":"web"}}}}`,
	} {
		if code, body := f.send("POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", "application/json", bad); code != 422 {
			t.Errorf("bad budget: %d %v", code, body)
		}
	}
	if code, body := f.send("POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", "application/json",
		`{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"web"},"spec":{"minAvailable":2,"selector":{"matchLabels":{"app":"web"}}}}`); code != 201 {
		t.Fatalf("creating the budget: %d %v", code, body)
	}
	// 3 healthy, 2 needed: one eviction goes, the next is refused (429).
	if err := f.c.Evict(ctx, "default", "web-0", nil); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	if _, err := f.c.Get(ctx, podsRes, "default", "web-0"); !apierrors.IsNotFound(err) {
		t.Fatalf("the evicted pod (unbound: deleted at once): %v", err)
	}
	err := f.c.Evict(ctx, "default", "web-1", nil)
	if !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "disruption budget web needs 2 healthy pods and has 2") {
		t.Fatalf("second eviction: %v, want 429 naming the budget", err)
	}
	if _, err := f.c.Get(ctx, podsRes, "default", "web-1"); err != nil {
		t.Fatalf("the refused eviction deleted the pod: %v", err)
	}
	// An unready pod may always go.
	obj, _ := f.c.Get(ctx, podsRes, "default", "web-2")
	p := obj.(*corev1.Pod)
	p.Status.Conditions[0].Status = corev1.ConditionFalse
	if _, err := f.c.UpdateStatus(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Evict(ctx, "default", "web-2", nil); err != nil {
		t.Fatalf("evicting an unready pod: %v", err)
	}
}
