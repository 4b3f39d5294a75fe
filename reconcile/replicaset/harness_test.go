package replicaset

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/reconciletest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var (
	reg = resources.Default()
	t0  = reconciletest.T0
)

// fakeWriter is the controller's Writer: the real store writer underneath,
// with every call counted and failures injected on demand.
type fakeWriter struct {
	inner reconcile.Writer

	mu    sync.Mutex
	calls map[string]int
	// fail[op] are errors returned, in order, by the next calls of op
	// ("Create", "Update", "UpdateStatus", "Delete") instead of writing.
	fail map[string][]error
}

func (f *fakeWriter) record(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if errs := f.fail[op]; len(errs) > 0 {
		f.fail[op] = errs[1:]
		return errs[0]
	}
	return nil
}

func (f *fakeWriter) failNext(op string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = append(f.fail[op], errs...)
}

func (f *fakeWriter) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeWriter) Create(ctx context.Context, kind string, obj apis.Object) (apis.Object, error) {
	if err := f.record("Create"); err != nil {
		return nil, err
	}
	return f.inner.Create(ctx, kind, obj)
}

func (f *fakeWriter) Update(ctx context.Context, kind string, obj apis.Object) (apis.Object, error) {
	if err := f.record("Update"); err != nil {
		return nil, err
	}
	return f.inner.Update(ctx, kind, obj)
}

func (f *fakeWriter) UpdateStatus(ctx context.Context, kind string, obj apis.Object) (apis.Object, error) {
	if err := f.record("UpdateStatus"); err != nil {
		return nil, err
	}
	return f.inner.UpdateStatus(ctx, kind, obj)
}

func (f *fakeWriter) Delete(ctx context.Context, kind, ns, name string, pre storage.Preconditions) error {
	if err := f.record("Delete"); err != nil {
		return err
	}
	return f.inner.Delete(ctx, kind, ns, name, pre)
}

type harness struct {
	t     *testing.T
	ctx   context.Context
	store storage.Store
	clk   *clocktesting.FakeClock
	w     *reconcile.StoreWriter
	fw    *fakeWriter
	rec   *reconciletest.Recorder
	c     *Controller
	// podCache is the controller's pod informer.
	podCache *reconcile.Informer
}

type option func(*harnessConfig)

type harnessConfig struct {
	wrapReader  func(storage.Store) storage.Reader
	statusBatch time.Duration
}

func withStatusBatch(d time.Duration) option { return func(hc *harnessConfig) { hc.statusBatch = d } }

// newHarness starts the controller over an in-memory store with the
// default namespace.
func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	var hc harnessConfig
	for _, o := range opts {
		o(&hc)
	}
	env := reconciletest.NewEnv(t)
	w := env.Writer
	h := &harness{t: t, ctx: env.Ctx, store: env.Store, clk: env.Clock, w: w,
		fw:  &fakeWriter{inner: w, calls: map[string]int{}, fail: map[string][]error{}},
		rec: &reconciletest.Recorder{}}
	var reader storage.Reader = env.Store
	if hc.wrapReader != nil {
		reader = hc.wrapReader(env.Store)
	}
	infs := reconcile.NewInformers(reader, reg, env.Log)
	h.podCache = infs.For("Pod")
	h.c = New(Config{
		ReplicaSets: infs.For("ReplicaSet"), Pods: infs.For("Pod"),
		Writer: h.fw, Recorder: h.rec, Clock: env.Clock, StatusBatch: hc.statusBatch, Logger: env.Log,
	})
	env.Run(t, infs, h.c)
	return h
}

func (h *harness) res(kind string) *resources.Resource {
	res, _ := reg.ByKind(kind)
	return res
}

func webRS(replicas int32) *appsv1.ReplicaSet {
	labels := map[string]string{"app": "web"}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "echo"}}},
			},
		},
	}
}

func (h *harness) createRS(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	h.t.Helper()
	obj, err := h.w.Create(h.ctx, "ReplicaSet", rs)
	if err != nil {
		h.t.Fatal(err)
	}
	return obj.(*appsv1.ReplicaSet)
}

func (h *harness) rs(name string) *appsv1.ReplicaSet {
	h.t.Helper()
	rec, err := h.store.Get(h.ctx, h.res("ReplicaSet"), "default", name, true)
	if err != nil {
		h.t.Fatal(err)
	}
	return rec.Object().(*appsv1.ReplicaSet)
}

// scale sets spec.replicas, retrying when the controller wrote the status
// in between.
func (h *harness) scale(name string, replicas int32) {
	h.t.Helper()
	for {
		rs := h.rs(name).DeepCopy()
		rs.Spec.Replicas = ptr.To(replicas)
		_, err := h.w.Update(h.ctx, "ReplicaSet", rs)
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			h.t.Fatal(err)
		}
		return
	}
}

// pods returns every stored pod, by name.
func (h *harness) pods() []*corev1.Pod {
	h.t.Helper()
	list, err := h.store.List(h.ctx, h.res("Pod"), storage.ListOptions{Stale: true})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*corev1.Pod
	for _, r := range list.Items {
		out = append(out, r.Object().(*corev1.Pod))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// owned returns the active pods rs controls.
func (h *harness) owned(rs *appsv1.ReplicaSet) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range h.pods() {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == rs.UID && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// podsCached waits until the controller's cache holds n pods: caches of
// different kinds are not in step, and a test that creates pods and then a
// ReplicaSet wants the ReplicaSet's first sync to see them.
func (h *harness) podsCached(n int) {
	h.t.Helper()
	eventually(h.t, "the pods in the cache", func() bool { return h.podCache.Len() == n })
}

// putPod stores a pod the way the API would (defaulted), the way a test
// sets the scene.
func (h *harness) putPod(pod *corev1.Pod) *corev1.Pod {
	h.t.Helper()
	h.res("Pod").Default(pod)
	if pod.UID == "" {
		pod.UID = k8stypes.UID("uid-" + pod.Name)
	}
	if pod.CreationTimestamp.IsZero() {
		pod.CreationTimestamp = metav1.NewTime(h.clk.Now())
	}
	rec, err := h.store.Create(h.ctx, h.res("Pod"), pod)
	if err != nil {
		h.t.Fatal(err)
	}
	return rec.Object().(*corev1.Pod)
}

// editPod changes a stored pod directly (spec, status and metadata alike),
// retrying when the controller wrote it in between.
func (h *harness) editPod(name string, edit func(*corev1.Pod)) {
	h.t.Helper()
	for {
		rec, err := h.store.Get(h.ctx, h.res("Pod"), "default", name, true)
		if err != nil {
			h.t.Fatal(err)
		}
		pod := rec.Object().(*corev1.Pod).DeepCopy()
		rv, _ := strconv.ParseUint(pod.ResourceVersion, 10, 64)
		edit(pod)
		pod.ResourceVersion = ""
		_, err = h.store.Update(h.ctx, h.res("Pod"), pod, rv)
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			h.t.Fatal(err)
		}
		return
	}
}

func orphan(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "echo"}}},
	}
}

// ready marks a pod running on a node and ready since the given time.
func ready(since time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.NodeName = "n1"
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(since)}}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// quiet checks that cond stays true for a while: nothing more happens.
func quiet(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 25 {
		if !cond() {
			t.Fatalf("not quiet: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func podNames(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}
