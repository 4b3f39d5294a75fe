package deployment

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/reconciletest"
	"github.com/skiffhq/skiff/reconcile/replicaset"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var reg = resources.Default()

// badImage is an image whose pods the fake kubelet never makes ready.
const badImage = "bad"

// harness runs the Deployment controller and the ReplicaSet controller
// over an in-memory store, with a fake kubelet that binds every new pod,
// makes it ready (unless its image is badImage or the kubelet is held) and
// removes pods being deleted.
type harness struct {
	t     *testing.T
	ctx   context.Context
	store storage.Store
	clk   *clocktesting.FakeClock
	w     *reconcile.StoreWriter
	rec   *reconciletest.Recorder
	c     *Controller

	mu   sync.Mutex
	held bool // the kubelet makes no pod ready
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	env := reconciletest.NewEnv(t)
	store, clk, w, log := env.Store, env.Clock, env.Writer, env.Log
	h := &harness{t: t, ctx: env.Ctx, store: store, clk: clk, w: w, rec: &reconciletest.Recorder{}}
	infs := reconcile.NewInformers(store, reg, log)
	h.c = New(Config{
		Deployments: infs.For("Deployment"), ReplicaSets: infs.For("ReplicaSet"), Pods: infs.For("Pod"),
		Writer: w, Recorder: h.rec, Clock: clk, Logger: log,
	})
	rsc := replicaset.New(replicaset.Config{
		ReplicaSets: infs.For("ReplicaSet"), Pods: infs.For("Pod"), Writer: w, Clock: clk, Logger: log,
	})
	kubeletDone := make(chan struct{})
	go func() {
		defer close(kubeletDone)
		h.kubelet()
	}()
	// Registered before Run's, so it runs after the loops are stopped and
	// the context has ended.
	t.Cleanup(func() { <-kubeletDone })
	env.Run(t, infs, h.c, rsc)
	return h
}

func (h *harness) res(kind string) *resources.Resource {
	res, _ := reg.ByKind(kind)
	return res
}

// hold stops (true) or restarts (false) the kubelet making pods ready.
func (h *harness) hold(held bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = held
}

func (h *harness) isHeld() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// kubelet plays every node: it binds new pods, makes them ready at once
// and removes the pods marked for deletion, until the test ends.
func (h *harness) kubelet() {
	for h.ctx.Err() == nil {
		list, err := h.store.List(h.ctx, h.res("Pod"), storage.ListOptions{Stale: true})
		if err != nil {
			return
		}
		for _, rec := range list.Items {
			pod := rec.Object().(*corev1.Pod)
			rv, _ := strconv.ParseUint(pod.ResourceVersion, 10, 64)
			switch {
			case pod.DeletionTimestamp != nil:
				_, _ = h.store.Delete(h.ctx, h.res("Pod"), pod.Namespace, pod.Name, storage.Preconditions{UID: string(pod.UID)})
			case pod.Spec.NodeName == "":
				next := pod.DeepCopy()
				next.Spec.NodeName = "n1"
				next.Status.Phase = corev1.PodPending
				next.ResourceVersion = ""
				_, _ = h.store.Update(h.ctx, h.res("Pod"), next, rv)
			case !isReady(pod) && pod.Spec.Containers[0].Image != badImage && !h.isHeld():
				next := pod.DeepCopy()
				next.Status.Phase = corev1.PodRunning
				next.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
					LastTransitionTime: metav1.NewTime(h.clk.Now().Truncate(time.Second))}}
				next.ResourceVersion = ""
				_, _ = h.store.Update(h.ctx, h.res("Pod"), next, rv)
			}
		}
		time.Sleep(time.Millisecond)
	}
}

func isReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func webDeployment(replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "echo:1"}}},
			},
		},
	}
}

func rolling(surge, unavailable intstr.IntOrString) appsv1.DeploymentStrategy {
	return appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}}
}

func (h *harness) create(d *appsv1.Deployment) *appsv1.Deployment {
	h.t.Helper()
	obj, err := h.w.Create(h.ctx, "Deployment", d)
	if err != nil {
		h.t.Fatal(err)
	}
	return obj.(*appsv1.Deployment)
}

func (h *harness) deployment() *appsv1.Deployment {
	h.t.Helper()
	rec, err := h.store.Get(h.ctx, h.res("Deployment"), "default", "web", true)
	if err != nil {
		h.t.Fatal(err)
	}
	return rec.Object().(*appsv1.Deployment)
}

// edit changes the Deployment's spec or metadata as a user would,
// retrying when the controller wrote it in between.
func (h *harness) edit(fn func(*appsv1.Deployment)) {
	h.t.Helper()
	for {
		d := h.deployment().DeepCopy()
		fn(d)
		_, err := h.w.Update(h.ctx, "Deployment", d)
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			h.t.Fatal(err)
		}
		return
	}
}

func (h *harness) setImage(image string) {
	h.t.Helper()
	h.edit(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image })
}

func (h *harness) scaleTo(n int32) {
	h.t.Helper()
	h.edit(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(n) })
}

// replicaSets returns the stored ReplicaSets, oldest revision first.
func (h *harness) replicaSets() []*appsv1.ReplicaSet {
	h.t.Helper()
	list, err := h.store.List(h.ctx, h.res("ReplicaSet"), storage.ListOptions{Stale: true})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*appsv1.ReplicaSet
	for _, r := range list.Items {
		out = append(out, r.Object().(*appsv1.ReplicaSet))
	}
	byAge(out)
	return out
}

// rsOf returns the ReplicaSet whose template runs image.
func (h *harness) rsOf(image string) *appsv1.ReplicaSet {
	for _, rs := range h.replicaSets() {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs
		}
	}
	return nil
}

// activePods returns the pods not being deleted, by name.
func (h *harness) activePods() []*corev1.Pod {
	list, err := h.store.List(h.ctx, h.res("Pod"), storage.ListOptions{Stale: true})
	if err != nil {
		h.t.Error(err)
		return nil
	}
	var out []*corev1.Pod
	for _, r := range list.Items {
		if p := r.Object().(*corev1.Pod); p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// counts returns the active pods per image and how many of them are
// ready.
func (h *harness) counts() (byImage map[string]int, total, ready int) {
	byImage = map[string]int{}
	for _, p := range h.activePods() {
		byImage[p.Spec.Containers[0].Image]++
		total++
		if isReady(p) {
			ready++
		}
	}
	return byImage, total, ready
}

// watch checks check on every state of the pods, as the store's watch
// reports them one revision after another, until the returned stop is
// called; stop reports the first failure. (Polling could miss a state
// that lasts a moment, such as none running during a Recreate.)
func (h *harness) watch(check func(byImage map[string]int, total, ready int) error) (stop func()) {
	h.t.Helper()
	list, err := h.store.List(h.ctx, h.res("Pod"), storage.ListOptions{Stale: true})
	if err != nil {
		h.t.Fatal(err)
	}
	w, err := h.store.Watch(h.ctx, h.res("Pod"), storage.WatchOptions{ResourceVersion: list.Revision})
	if err != nil {
		h.t.Fatal(err)
	}
	active := map[string]*corev1.Pod{}
	put := func(p *corev1.Pod, deleted bool) {
		if deleted || p.DeletionTimestamp != nil {
			delete(active, p.Name)
		} else {
			active[p.Name] = p
		}
	}
	for _, r := range list.Items {
		put(r.Object().(*corev1.Pod), false)
	}
	checkNow := func() error {
		byImage, ready := map[string]int{}, 0
		for _, p := range active {
			byImage[p.Spec.Containers[0].Image]++
			if isReady(p) {
				ready++
			}
		}
		return check(byImage, len(active), ready)
	}
	quit := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		defer w.Stop()
		last := list.Revision
		for {
			select {
			case <-quit:
				done <- checkNow()
				return
			case ev, ok := <-w.Events():
				if !ok {
					done <- fmt.Errorf("the pod watch ended: %v", w.Err())
					return
				}
				// A revision's events are one change: check the state
				// before it once all of the last one's are in.
				if ev.Revision != last {
					if err := checkNow(); err != nil {
						done <- err
						return
					}
					last = ev.Revision
				}
				put(ev.Object.Object().(*corev1.Pod), ev.Type == storage.Deleted)
			}
		}
	}()
	return func() {
		h.t.Helper()
		close(quit)
		if err := <-done; err != nil {
			h.t.Fatal(err)
		}
	}
}

// rolledOut reports whether every one of n pods runs image and is ready,
// the ReplicaSet of image has n replicas and every other 0, and the
// status says so.
func (h *harness) rolledOut(image string, n int32) bool {
	byImage, total, ready := h.counts()
	if byImage[image] != int(n) || total != int(n) || ready != int(n) {
		return false
	}
	for _, rs := range h.replicaSets() {
		want := int32(0)
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			want = n
		}
		if specReplicas(rs) != want || rs.Status.Replicas != want {
			return false
		}
	}
	d := h.deployment()
	st := d.Status
	cond := condition(st.Conditions, appsv1.DeploymentProgressing)
	return st.ObservedGeneration == d.Generation && st.Replicas == n && st.UpdatedReplicas == n &&
		st.AvailableReplicas == n && st.ReadyReplicas == n && st.UnavailableReplicas == 0 &&
		cond != nil && cond.Reason == ReasonNewReplicaSetAvailable
}

// eventually waits for cond, moving the fake clock on by a little on each
// try so that retries after a failed write (backoff on the fake clock)
// happen.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
		h.clk.Step(10 * time.Millisecond)
	}
}

// quiet checks that cond stays true for a while: nothing more happens.
func (h *harness) quiet(what string, cond func() bool) {
	h.t.Helper()
	for range 50 {
		if !cond() {
			h.t.Fatalf("not quiet: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
		h.clk.Step(10 * time.Millisecond)
	}
}
