package replicaset

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

var generatedName = regexp.MustCompile(`^web-[a-z0-9]{5}$`)

func TestScaleUpFromZeroToFive(t *testing.T) {
	h := newHarness(t)
	rs := h.createRS(webRS(0))
	eventually(t, "status of the empty ReplicaSet", func() bool { return h.rs("web").Status.ObservedGeneration == 1 })
	if len(h.pods()) != 0 {
		t.Fatal("pods for 0 replicas")
	}

	h.scale("web", 5)
	eventually(t, "5 pods and their status", func() bool {
		st := h.rs("web").Status
		return len(h.owned(rs)) == 5 && st.Replicas == 5 && st.ObservedGeneration == 2
	})
	for _, p := range h.pods() {
		if !generatedName.MatchString(p.Name) {
			t.Errorf("pod name %q", p.Name)
		}
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != "ReplicaSet" || ref.Name != "web" || ref.UID != rs.UID || !ptr.Deref(ref.BlockOwnerDeletion, false) {
			t.Errorf("pod %s controller %+v", p.Name, ref)
		}
		if p.Labels["app"] != "web" || p.Spec.Containers[0].Image != "echo" || p.UID == "" {
			t.Errorf("pod %s not from the template: %v %+v", p.Name, p.Labels, p.Spec.Containers)
		}
	}
	quiet(t, "exactly 5 creates", func() bool { return h.fw.count("Create") == 5 && len(h.pods()) == 5 })
	if n := h.rec.Count(ReasonSuccessfulCreate); n != 5 {
		t.Errorf("%d SuccessfulCreate events", n)
	}
	if st := h.rs("web").Status; st.ReadyReplicas != 0 || st.AvailableReplicas != 0 || st.FullyLabeledReplicas != 5 {
		t.Errorf("status %+v", st)
	}
}

func TestScaleDownDeletesTheLeastUsefulPodsFirst(t *testing.T) {
	h := newHarness(t)
	rs := h.createRS(webRS(5))
	eventually(t, "5 pods", func() bool { return len(h.owned(rs)) == 5 })
	p := podNames(h.pods())
	now := h.clk.Now()
	roles := map[string]string{
		p[0]: "ready long ago",
		p[1]: "unscheduled",
		p[2]: "ready recently",
		p[3]: "scheduled, pending",
		p[4]: "ready a while ago",
	}
	h.editPod(p[0], ready(now.Add(-1000*time.Second)))
	h.editPod(p[2], ready(now.Add(-10*time.Second)))
	h.editPod(p[3], func(pod *corev1.Pod) { pod.Spec.NodeName = "n1"; pod.Status.Phase = corev1.PodPending })
	h.editPod(p[4], ready(now.Add(-100*time.Second)))
	eventually(t, "3 ready", func() bool { return h.rs("web").Status.ReadyReplicas == 3 })

	h.scale("web", 2)
	eventually(t, "2 pods left", func() bool { return len(h.owned(rs)) == 2 && h.rs("web").Status.Replicas == 2 })
	var left []string
	for _, pod := range h.owned(rs) {
		left = append(left, roles[pod.Name])
	}
	slices.Sort(left)
	if want := []string{"ready a while ago", "ready long ago"}; !slices.Equal(left, want) {
		t.Fatalf("kept %v, want %v", left, want)
	}
	// The unscheduled pod is gone at once; bound pods are being stopped by
	// their agent.
	byName := map[string]*corev1.Pod{}
	for _, pod := range h.pods() {
		byName[pod.Name] = pod
	}
	if _, ok := byName[p[1]]; ok {
		t.Error("the unscheduled pod was not removed")
	}
	for _, n := range []string{p[2], p[3]} {
		if pod := byName[n]; pod == nil || pod.DeletionTimestamp == nil {
			t.Errorf("%s (%s) not marked for deletion", n, roles[n])
		}
	}
	quiet(t, "exactly 3 deletes", func() bool { return h.fw.count("Delete") == 3 && h.fw.count("Create") == 5 })
	if n := h.rec.Count(ReasonSuccessfulDelete); n != 3 {
		t.Errorf("%d SuccessfulDelete events", n)
	}
}

func TestAdoptsMatchingOrphansOnly(t *testing.T) {
	h := newHarness(t)
	web := map[string]string{"app": "web"}
	h.putPod(orphan("orphan-1", web))
	h.putPod(orphan("orphan-2", web))
	h.putPod(orphan("other-app", map[string]string{"app": "db"}))
	foreign := orphan("foreign", web)
	foreign.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x", UID: "x-uid", Controller: ptr.To(true)}}
	h.putPod(foreign)
	dying := orphan("dying", web)
	dying.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	h.putPod(dying)
	withOtherOwner := orphan("configured", web)
	withOtherOwner.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "cm", UID: "cm-uid"}}
	h.putPod(withOtherOwner)
	h.podsCached(6)

	rs := h.createRS(webRS(4))
	eventually(t, "4 pods", func() bool { return len(h.owned(rs)) == 4 && h.rs("web").Status.Replicas == 4 })
	var adopted []string
	for _, p := range h.owned(rs) {
		if !generatedName.MatchString(p.Name) {
			adopted = append(adopted, p.Name)
		}
	}
	if want := []string{"configured", "orphan-1", "orphan-2"}; !slices.Equal(adopted, want) {
		t.Fatalf("adopted %v, want %v", adopted, want)
	}
	for _, p := range h.pods() {
		if p.Name == "configured" && len(p.OwnerReferences) != 2 {
			t.Errorf("adoption dropped an owner: %+v", p.OwnerReferences)
		}
		if p.Name == "foreign" && metav1.GetControllerOf(p).UID != "x-uid" {
			t.Error("a pod of another controller was taken")
		}
	}
	// A sync woken by the first adoption may still see the other pods as
	// orphans and try again: the store refuses that (Conflict) and the
	// sync stops before counting pods, so no pod is created twice.
	quiet(t, "one create", func() bool { return h.fw.count("Create") == 1 && len(h.pods()) == 7 })
	if n := h.fw.count("Update"); n < 3 {
		t.Errorf("%d adoption writes", n)
	}
}

func TestReleasesPodsThatNoLongerMatch(t *testing.T) {
	h := newHarness(t)
	rs := h.createRS(webRS(2))
	eventually(t, "2 pods", func() bool { return len(h.owned(rs)) == 2 })
	moved := h.owned(rs)[0].Name
	h.editPod(moved, func(p *corev1.Pod) { p.Labels = map[string]string{"app": "debug"} })
	eventually(t, "a replacement", func() bool {
		owned := h.owned(rs)
		return len(owned) == 2 && !slices.Contains(podNames(owned), moved) && h.rs("web").Status.Replicas == 2
	})
	for _, p := range h.pods() {
		if p.Name == moved && len(p.OwnerReferences) != 0 {
			t.Fatalf("the released pod still has owners: %+v", p.OwnerReferences)
		}
	}
	if len(h.pods()) != 3 {
		t.Fatalf("pods %v", podNames(h.pods()))
	}
}

func TestReplacesAPodDeletedBySomeoneElse(t *testing.T) {
	h := newHarness(t)
	rs := h.createRS(webRS(3))
	eventually(t, "3 pods", func() bool { return len(h.owned(rs)) == 3 })
	victim := h.owned(rs)[1].Name
	if _, err := h.store.Delete(h.ctx, h.res("Pod"), "default", victim, storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a replacement", func() bool {
		owned := h.owned(rs)
		return len(owned) == 3 && !slices.Contains(podNames(owned), victim)
	})
	// A pod someone else is deleting gracefully no longer counts either.
	leaving := h.owned(rs)[0].Name
	h.editPod(leaving, func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) })
	eventually(t, "a replacement for the terminating pod", func() bool { return len(h.owned(rs)) == 3 && len(h.pods()) == 4 })
	quiet(t, "5 creates in all", func() bool { return h.fw.count("Create") == 5 })
}

func TestStatusCountsReadyAvailableAndFullyLabeled(t *testing.T) {
	h := newHarness(t)
	h.putPod(orphan("partly-labeled", map[string]string{"app": "web"}))
	h.podsCached(1)
	spec := webRS(3)
	spec.Spec.MinReadySeconds = 10
	spec.Spec.Template.Labels = map[string]string{"app": "web", "tier": "front"}
	rs := h.createRS(spec)
	eventually(t, "3 pods", func() bool { return len(h.owned(rs)) == 3 && h.rs("web").Status.Replicas == 3 })
	if st := h.rs("web").Status; st.FullyLabeledReplicas != 2 {
		t.Errorf("fullyLabeledReplicas %d, want 2 (the adopted pod lacks tier)", st.FullyLabeledReplicas)
	}
	owned := podNames(h.owned(rs))
	h.editPod(owned[0], ready(h.clk.Now()))
	h.editPod(owned[1], ready(h.clk.Now()))
	eventually(t, "2 ready, none available yet, a recheck timer", func() bool {
		st := h.rs("web").Status
		return st.ReadyReplicas == 2 && st.AvailableReplicas == 0 && h.clk.HasWaiters()
	})
	h.clk.Step(9 * time.Second)
	quiet(t, "nothing available before minReadySeconds", func() bool { return h.rs("web").Status.AvailableReplicas == 0 })
	h.clk.Step(time.Second)
	eventually(t, "2 available after minReadySeconds", func() bool { return h.rs("web").Status.AvailableReplicas == 2 })
	st := h.rs("web").Status
	if st.Replicas != 3 || st.ReadyReplicas != 2 || st.FullyLabeledReplicas != 2 || st.ObservedGeneration != 1 {
		t.Errorf("status %+v", st)
	}
}

// Pods turning ready are counted in one sync StatusBatch after the first,
// not one sync each; a pod that ends is acted on at once.
func TestStatusBatchGathersReadinessChanges(t *testing.T) {
	h := newHarness(t, withStatusBatch(time.Second))
	rs := h.createRS(webRS(3))
	eventually(t, "3 pods", func() bool { return len(h.owned(rs)) == 3 })
	// Settled: the count written and nothing left to sync but batches
	// not due yet, twice in a row (an event's handler runs just after the
	// cache has it). Batched syncs are due a second on.
	settled := func() bool {
		cached, ok := h.c.cfg.ReplicaSets.Get("default", "web")
		return ok && cached.(*appsv1.ReplicaSet).Status.Replicas == 3 && h.c.Queue().Idle()
	}
	eventually(t, "3 replicas counted and synced", func() bool {
		if settled() {
			time.Sleep(20 * time.Millisecond)
			if settled() {
				return true
			}
		}
		h.clk.Step(time.Second)
		return false
	})
	owned := podNames(h.owned(rs))
	syncsBefore := h.fw.count("UpdateStatus")
	h.editPod(owned[0], ready(h.clk.Now()))
	h.editPod(owned[1], ready(h.clk.Now()))
	quiet(t, "readiness not counted before the batch is due", func() bool { return h.rs("web").Status.ReadyReplicas == 0 })
	h.clk.Step(time.Second)
	eventually(t, "both counted", func() bool { return h.rs("web").Status.ReadyReplicas == 2 })
	if n := h.fw.count("UpdateStatus") - syncsBefore; n != 1 {
		t.Errorf("%d status writes for two pods turning ready, want 1", n)
	}
	// A pod that fails needs a replacement: no waiting for the batch.
	h.editPod(owned[2], func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })
	eventually(t, "a replacement for the failed pod", func() bool { return len(activePods(h.owned(rs))) == 3 && len(h.owned(rs)) == 4 })
}

var podsResource = schema.GroupResource{Resource: "pods"}

func TestWriteConflictRetriesThroughTheQueue(t *testing.T) {
	h := newHarness(t)
	h.fw.failNext("UpdateStatus", apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "replicasets"}, "web", errConflict))
	h.createRS(webRS(0))
	key := "default/web"
	eventually(t, "the failed status write queued for a retry", func() bool {
		return h.fw.count("UpdateStatus") == 1 && h.c.Queue().NumRequeues(key) == 1 && h.clk.HasWaiters()
	})
	quiet(t, "no retry before the backoff", func() bool { return h.rs("web").Status.ObservedGeneration == 0 })
	h.clk.Step(5 * time.Millisecond)
	eventually(t, "the retried status write", func() bool { return h.rs("web").Status.ObservedGeneration == 1 })
	eventually(t, "the failures forgotten", func() bool { return h.c.Queue().NumRequeues(key) == 0 })

	// A failed create shows in the status and is retried. Writing the
	// condition wakes the ReplicaSet once more (its own status event); that
	// sync fails alike, finds the condition already there and writes
	// nothing, so only the queue's backoff brings the next attempt.
	taken := apierrors.NewAlreadyExists(podsResource, "web-taken")
	h.fw.failNext("Create", taken, apierrors.NewAlreadyExists(podsResource, "web-taken-too"))
	h.scale("web", 2)
	eventually(t, "the ReplicaFailure condition and a retry timer", func() bool {
		conds := h.rs("web").Status.Conditions
		return len(conds) == 1 && conds[0].Type == appsv1.ReplicaSetReplicaFailure && conds[0].Reason == ReasonFailedCreate &&
			h.fw.count("Create") == 2 && h.clk.HasWaiters()
	})
	// Each failed sync tried one create (slow start), and nothing more
	// happens until the backoff ends.
	quiet(t, "no create before the backoff", func() bool { return h.fw.count("Create") == 2 && len(h.pods()) == 0 })
	h.clk.Step(time.Minute)
	eventually(t, "2 pods and the condition cleared", func() bool {
		st := h.rs("web").Status
		return len(h.pods()) == 2 && st.Replicas == 2 && len(st.Conditions) == 0
	})
	if n := h.rec.Count(ReasonFailedCreate); n != 2 {
		t.Errorf("%d FailedCreate events", n)
	}
}

var errConflict = errors.New("injected: the object has been modified")

// heldPods holds back every pod watch event until released, so that the
// controller's cache lags behind its own writes.
type heldPods struct {
	storage.Store
	release chan struct{}
}

func (s heldPods) Watch(ctx context.Context, res *resources.Resource, opts storage.WatchOptions) (storage.Watch, error) {
	w, err := s.Store.Watch(ctx, res, opts)
	if err != nil || res.Kind != "Pod" {
		return w, err
	}
	out := &heldWatch{Watch: w, ch: make(chan storage.Event, 1024)}
	go func() {
		defer close(out.ch)
		select {
		case <-s.release:
		case <-ctx.Done():
		}
		for ev := range w.Events() {
			out.ch <- ev
		}
	}()
	return out, nil
}

type heldWatch struct {
	storage.Watch
	ch chan storage.Event
}

func (w *heldWatch) Events() <-chan storage.Event { return w.ch }

func TestExpectationsHoldBackABurstUntilTheCacheShowsIt(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, func(c *harnessConfig) {
		c.wrapReader = func(s storage.Store) storage.Reader { return heldPods{Store: s, release: release} }
	})
	rs := h.createRS(webRS(3))
	eventually(t, "3 creates", func() bool { return h.fw.count("Create") == 3 })
	// Scale while the cache still shows no pod: the sync that follows
	// must not create 4 more.
	h.scale("web", 4)
	eventually(t, "the sync of generation 2", func() bool { return h.rs("web").Status.ObservedGeneration == 2 })
	if n := h.fw.count("Create"); n != 3 {
		t.Fatalf("%d creates while the cache lagged: expectations did not hold the burst back", n)
	}
	close(release)
	eventually(t, "4 pods", func() bool { return len(h.owned(rs)) == 4 && h.rs("web").Status.Replicas == 4 })
	quiet(t, "exactly 4 creates", func() bool { return h.fw.count("Create") == 4 })
}

func TestDeletionOrder(t *testing.T) {
	at := func(s int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(s) * time.Second)) }
	pod := func(name, node string, phase corev1.PodPhase, readySince *metav1.Time, restarts int32, created int) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at(created)}}
		p.Spec.NodeName = node
		p.Status.Phase = phase
		if readySince != nil {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: *readySince}}
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: restarts}}
		return p
	}
	pods := []*corev1.Pod{
		pod("ready-old", "n", corev1.PodRunning, ptr.To(at(0)), 0, 0),
		pod("ready-old-restarted", "n", corev1.PodRunning, ptr.To(at(0)), 3, 0),
		pod("ready-new", "n", corev1.PodRunning, ptr.To(at(50)), 0, 0),
		pod("running-not-ready", "n", corev1.PodRunning, nil, 0, 0),
		pod("unknown", "n", corev1.PodUnknown, nil, 0, 0),
		pod("pending", "n", corev1.PodPending, nil, 0, 0),
		pod("unscheduled-old", "", corev1.PodPending, nil, 0, 0),
		pod("unscheduled-new", "", corev1.PodPending, nil, 0, 10),
		pod("ready-old-created-later", "n", corev1.PodRunning, ptr.To(at(0)), 0, 5),
	}
	want := []string{
		"unscheduled-new", "unscheduled-old", "pending", "unknown", "running-not-ready",
		"ready-new", "ready-old-restarted", "ready-old-created-later", "ready-old",
	}
	if got := podNames(toDelete(pods, len(pods))); !slices.Equal(got, want) {
		t.Fatalf("order\n got %v\nwant %v", got, want)
	}
	if got := podNames(toDelete(pods, 2)); !slices.Equal(got, want[:2]) {
		t.Fatalf("first 2: %v", got)
	}
}

func TestPodFromTemplate(t *testing.T) {
	rs := webRS(1)
	rs.UID = "rs-uid"
	rs.Spec.Template.Annotations = map[string]string{"a": "b"}
	p := newPod(rs, podName(rs, "abcde"))
	if p.Name != "web-abcde" || p.Namespace != "default" || p.Labels["app"] != "web" || p.Annotations["a"] != "b" {
		t.Fatalf("pod %+v", p.ObjectMeta)
	}
	p.Labels["app"] = "changed"
	if rs.Spec.Template.Labels["app"] != "web" {
		t.Fatal("the pod shares its labels with the template")
	}
	long := webRS(1)
	long.Name = "a-very-long-replicaset-name-that-goes-on-and-on-and-on-and-on-and-on"
	if n := podName(long, "abcde"); len(n) != 63 {
		t.Fatalf("name %q is %d long", n, len(n))
	}
	if s := randomSuffix(); !regexp.MustCompile(`^[a-z0-9]{5}$`).MatchString(s) {
		t.Fatalf("suffix %q", s)
	}
}

func TestAvailability(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		minReady  time.Duration
		available bool
		wait      time.Duration
	}{
		{"not ready", &corev1.Pod{}, 0, false, 0},
		{"ready, no minReadySeconds", readyPod(now), 0, true, 0},
		{"ready 4s of 10s", readyPod(now.Add(-4 * time.Second)), 10 * time.Second, false, 6 * time.Second},
		{"ready exactly 10s", readyPod(now.Add(-10 * time.Second)), 10 * time.Second, true, 0},
		{"ready since unknown", readyPod(time.Time{}), 10 * time.Second, false, 0},
	} {
		available, wait := availableIn(tc.pod, tc.minReady, now)
		if available != tc.available || wait != tc.wait {
			t.Errorf("%s: available %v in %v, want %v in %v", tc.name, available, wait, tc.available, tc.wait)
		}
	}
}

func readyPod(since time.Time) *corev1.Pod {
	p := &corev1.Pod{}
	ready(since)(p)
	return p
}

func TestDeletedReplicaSetIsForgotten(t *testing.T) {
	h := newHarness(t)
	rs := h.createRS(webRS(2))
	eventually(t, "2 pods", func() bool { return len(h.owned(rs)) == 2 })
	if _, err := h.store.Delete(h.ctx, h.res("ReplicaSet"), "default", "web", storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	// Deleting dependents is the garbage collector's job (not yet written).
	quiet(t, "the pods are left alone", func() bool { return len(h.pods()) == 2 && h.fw.count("Delete") == 0 })
}
