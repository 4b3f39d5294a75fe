package deployment

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var rsNamePattern = regexp.MustCompile(`^web-[a-z0-9]{1,10}$`)

func TestCreateMakesOneReplicaSet(t *testing.T) {
	h := newHarness(t)
	d := h.create(webDeployment(3))
	h.eventually("3 ready pods of one ReplicaSet", func() bool { return h.rolledOut("echo:1", 3) })

	rss := h.replicaSets()
	if len(rss) != 1 {
		t.Fatalf("%d ReplicaSets", len(rss))
	}
	rs := rss[0]
	hash := rs.Labels[LabelPodTemplateHash]
	if !rsNamePattern.MatchString(rs.Name) || rs.Name != "web-"+hash {
		t.Errorf("name %q, hash %q", rs.Name, hash)
	}
	if hash != templateHash(&h.deployment().Spec.Template, nil) {
		t.Errorf("hash %q is not the template's", hash)
	}
	if rs.Spec.Selector.MatchLabels[LabelPodTemplateHash] != hash || rs.Spec.Selector.MatchLabels["app"] != "web" ||
		rs.Spec.Template.Labels[LabelPodTemplateHash] != hash {
		t.Errorf("selector %v, template labels %v", rs.Spec.Selector, rs.Spec.Template.Labels)
	}
	ref := metav1.GetControllerOf(rs)
	if ref == nil || ref.Kind != "Deployment" || ref.Name != "web" || ref.UID != d.UID {
		t.Errorf("controller %+v", ref)
	}
	if rs.Annotations[AnnotationRevision] != "1" || h.deployment().Annotations[AnnotationRevision] != "1" {
		t.Errorf("revisions %q %q", rs.Annotations[AnnotationRevision], h.deployment().Annotations[AnnotationRevision])
	}
	for _, p := range h.activePods() {
		if p.Labels[LabelPodTemplateHash] != hash {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
	}
	st := h.deployment().Status
	if c := condition(st.Conditions, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("Available %+v", c)
	}
	if !h.rec.Has(fmt.Sprintf("Normal %s Scaled up replica set %s to 3", ReasonScalingReplicaSet, rs.Name)) {
		t.Errorf("events %v", h.rec.String())
	}
	h.quiet("one ReplicaSet", func() bool { return len(h.replicaSets()) == 1 && h.rolledOut("echo:1", 3) })
}

func TestRollingUpdateKeepsSurgeAndAvailability(t *testing.T) {
	for _, tc := range []struct {
		name                string
		replicas            int32
		surge, unavailable  intstr.IntOrString
		maxTotal, minActive int
	}{
		{"defaults 25% of 4", 4, intstr.FromString("25%"), intstr.FromString("25%"), 5, 3},
		{"surge only", 5, intstr.FromInt32(2), intstr.FromInt32(0), 7, 5},
		{"unavailable only", 3, intstr.FromInt32(0), intstr.FromInt32(1), 3, 2},
		{"percent rounding of 10", 10, intstr.FromString("15%"), intstr.FromString("15%"), 12, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			d := webDeployment(tc.replicas)
			d.Spec.Strategy = rolling(tc.surge, tc.unavailable)
			h.create(d)
			h.eventually("rolled out", func() bool { return h.rolledOut("echo:1", tc.replicas) })

			sawBoth := false
			stop := h.watch(func(byImage map[string]int, total, ready int) error {
				if byImage["echo:1"] > 0 && byImage["echo:2"] > 0 {
					sawBoth = true
				}
				if total > tc.maxTotal {
					return fmt.Errorf("%d pods (%v), at most %d allowed", total, byImage, tc.maxTotal)
				}
				if ready < tc.minActive {
					return fmt.Errorf("%d ready pods (%v), at least %d required", ready, byImage, tc.minActive)
				}
				return nil
			})
			h.setImage("echo:2")
			h.eventually("rolled out to echo:2", func() bool { return h.rolledOut("echo:2", tc.replicas) })
			stop()
			if !sawBoth {
				t.Error("never saw old and new pods together: not a rolling update")
			}
			old, cur := h.rsOf("echo:1"), h.rsOf("echo:2")
			if old.Annotations[AnnotationRevision] != "1" || cur.Annotations[AnnotationRevision] != "2" ||
				h.deployment().Annotations[AnnotationRevision] != "2" {
				t.Errorf("revisions old %q new %q deployment %q", old.Annotations[AnnotationRevision],
					cur.Annotations[AnnotationRevision], h.deployment().Annotations[AnnotationRevision])
			}
			if !h.rec.Has(fmt.Sprintf("Normal %s Scaled down replica set %s to 0", ReasonScalingReplicaSet, old.Name)) ||
				!h.rec.Has(fmt.Sprintf("Normal %s Scaled up replica set %s to %d", ReasonScalingReplicaSet, cur.Name, tc.replicas)) {
				t.Errorf("events %v", h.rec.String())
			}
		})
	}
}

func TestScaleDuringRollout(t *testing.T) {
	h := newHarness(t)
	h.create(webDeployment(4))
	h.eventually("rolled out", func() bool { return h.rolledOut("echo:1", 4) })
	h.hold(true)
	h.setImage("echo:2")
	// 25% of 4: one surge pod, one unavailable: 5 pods, 3 old ready.
	h.eventually("the rollout under way", func() bool {
		byImage, total, _ := h.counts()
		return byImage["echo:2"] > 0 && total == 5
	})
	h.scaleTo(8)
	h.hold(false)
	h.eventually("8 pods of echo:2", func() bool { return h.rolledOut("echo:2", 8) })

	h.hold(true)
	h.setImage("echo:3")
	h.eventually("the next rollout under way", func() bool { byImage, _, _ := h.counts(); return byImage["echo:3"] > 0 })
	h.scaleTo(2)
	h.hold(false)
	h.eventually("2 pods of echo:3", func() bool { return h.rolledOut("echo:3", 2) })
}

func TestRecreate(t *testing.T) {
	h := newHarness(t)
	d := webDeployment(3)
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	h.create(d)
	h.eventually("rolled out", func() bool { return h.rolledOut("echo:1", 3) })

	sawNone := false
	stop := h.watch(func(byImage map[string]int, total, _ int) error {
		if total == 0 {
			sawNone = true
		}
		if byImage["echo:1"] > 0 && byImage["echo:2"] > 0 {
			return fmt.Errorf("old and new pods together: %v", byImage)
		}
		return nil
	})
	h.setImage("echo:2")
	h.eventually("rolled out to echo:2", func() bool { return h.rolledOut("echo:2", 3) })
	stop()
	if !sawNone {
		t.Error("the old pods were not all gone before the new ones came")
	}
	if old := h.rsOf("echo:1"); specReplicas(old) != 0 {
		t.Errorf("old ReplicaSet at %d", specReplicas(old))
	}
}

func TestProgressDeadlineExceeded(t *testing.T) {
	h := newHarness(t)
	d := webDeployment(3)
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	h.create(d)
	h.eventually("rolled out", func() bool { return h.rolledOut("echo:1", 3) })

	h.setImage(badImage)
	// 25% of 3: one surge pod, none unavailable: the old 3 keep serving.
	h.eventually("one new pod, not ready", func() bool {
		byImage, _, ready := h.counts()
		cond := condition(h.deployment().Status.Conditions, appsv1.DeploymentProgressing)
		st := h.deployment().Status
		return byImage[badImage] == 1 && byImage["echo:1"] == 3 && ready == 3 &&
			st.UpdatedReplicas == 1 && st.Replicas == 4 && cond != nil && cond.Status == corev1.ConditionTrue && cond.Reason != ReasonNewReplicaSetAvailable
	})
	if cond := condition(h.deployment().Status.Conditions, appsv1.DeploymentProgressing); cond.Reason != ReasonNewReplicaSetCreated && cond.Reason != ReasonReplicaSetUpdated {
		t.Errorf("Progressing %+v", cond)
	}
	h.clk.Step(61 * time.Second)
	h.eventually("the deadline exceeded", func() bool {
		cond := condition(h.deployment().Status.Conditions, appsv1.DeploymentProgressing)
		return cond != nil && cond.Status == corev1.ConditionFalse && cond.Reason == ReasonProgressDeadlineExceeded
	})
	st := h.deployment().Status
	if c := condition(st.Conditions, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("Available %+v", c)
	}
	if st.AvailableReplicas != 3 || st.UpdatedReplicas != 1 || st.Replicas != 4 || st.UnavailableReplicas != 0 {
		t.Errorf("status %+v", st)
	}
	if old := h.rsOf("echo:1"); specReplicas(old) != 3 || old.Status.AvailableReplicas != 3 {
		t.Errorf("old ReplicaSet %d/%d", old.Status.AvailableReplicas, specReplicas(old))
	}

	// A fixed image makes progress again.
	h.setImage("echo:2")
	h.eventually("rolled out to echo:2", func() bool { return h.rolledOut("echo:2", 3) })
}

func TestPausedRolloutOnlyScales(t *testing.T) {
	h := newHarness(t)
	h.create(webDeployment(2))
	h.eventually("rolled out", func() bool { return h.rolledOut("echo:1", 2) })

	h.edit(func(d *appsv1.Deployment) { d.Spec.Paused = true; d.Spec.Template.Spec.Containers[0].Image = "echo:2" })
	h.eventually("Progressing: paused", func() bool {
		cond := condition(h.deployment().Status.Conditions, appsv1.DeploymentProgressing)
		return cond != nil && cond.Reason == ReasonDeploymentPaused && cond.Status == corev1.ConditionUnknown
	})
	h.quiet("no new ReplicaSet while paused", func() bool { return len(h.replicaSets()) == 1 })
	h.scaleTo(4)
	h.eventually("4 pods of echo:1", func() bool {
		byImage, total, ready := h.counts()
		return byImage["echo:1"] == 4 && total == 4 && ready == 4 && h.deployment().Status.AvailableReplicas == 4
	})
	// Paused long past the deadline: no timeout.
	h.clk.Step(20 * time.Minute)
	h.quiet("still paused", func() bool {
		cond := condition(h.deployment().Status.Conditions, appsv1.DeploymentProgressing)
		return cond.Reason == ReasonDeploymentPaused && len(h.replicaSets()) == 1
	})

	h.edit(func(d *appsv1.Deployment) { d.Spec.Paused = false })
	h.eventually("rolled out to echo:2", func() bool { return h.rolledOut("echo:2", 4) })
}

func TestRevisionHistoryAndRollback(t *testing.T) {
	h := newHarness(t)
	d := webDeployment(2)
	d.Spec.RevisionHistoryLimit = ptr.To[int32](2)
	h.create(d)
	h.eventually("rolled out", func() bool { return h.rolledOut("echo:1", 2) })
	for _, image := range []string{"echo:2", "echo:3", "echo:4"} {
		h.setImage(image)
		h.eventually("rolled out to "+image, func() bool { return h.rolledOut(image, 2) })
	}
	h.eventually("2 old ReplicaSets kept", func() bool { return len(h.replicaSets()) == 3 })
	revisions := map[string]string{}
	for _, rs := range h.replicaSets() {
		revisions[rs.Spec.Template.Spec.Containers[0].Image] = rs.Annotations[AnnotationRevision]
	}
	if want := map[string]string{"echo:2": "2", "echo:3": "3", "echo:4": "4"}; fmt.Sprint(revisions) != fmt.Sprint(want) {
		t.Fatalf("revisions %v, want %v", revisions, want)
	}

	// Rolling back writes the old template again: its ReplicaSet comes
	// back as revision 5; echo:2 and echo:4 are the two old ones kept.
	before := h.rsOf("echo:3")
	h.setImage("echo:3")
	h.eventually("rolled back to echo:3", func() bool { return h.rolledOut("echo:3", 2) })
	after := h.rsOf("echo:3")
	if after.UID != before.UID || after.Name != before.Name {
		t.Errorf("a new ReplicaSet %s for an old template", after.Name)
	}
	h.eventually("revision 5", func() bool {
		return h.rsOf("echo:3").Annotations[AnnotationRevision] == "5" && h.deployment().Annotations[AnnotationRevision] == "5"
	})
	h.quiet("the history kept", func() bool { return len(h.replicaSets()) == 3 && h.rsOf("echo:2") != nil })

	// The next rollout makes a third old one: the oldest revision goes.
	h.setImage("echo:5")
	h.eventually("rolled out to echo:5", func() bool { return h.rolledOut("echo:5", 2) })
	h.eventually("echo:2 deleted", func() bool { return h.rsOf("echo:2") == nil && len(h.replicaSets()) == 3 })
	if rs := h.rsOf("echo:5"); rs.Annotations[AnnotationRevision] != "6" {
		t.Errorf("echo:5 at revision %q", rs.Annotations[AnnotationRevision])
	}
}

func TestAdoptsMatchingReplicaSet(t *testing.T) {
	h := newHarness(t)
	d := webDeployment(2)
	// An orphan ReplicaSet of the same template, as left by a Deployment
	// deleted with --cascade=orphan.
	defaulted := d.DeepCopy()
	h.res("Deployment").Default(defaulted)
	hash := templateHash(&defaulted.Spec.Template, nil)
	orphan := newReplicaSet(defaulted, hash, 1, 2)
	orphan.OwnerReferences = nil
	if _, err := h.w.Create(h.ctx, "ReplicaSet", orphan); err != nil {
		t.Fatal(err)
	}
	h.eventually("the orphan's pods", func() bool { _, total, ready := h.counts(); return total == 2 && ready == 2 })
	created := h.create(d)
	h.eventually("rolled out", func() bool { return h.rolledOut("echo:1", 2) })
	rss := h.replicaSets()
	if len(rss) != 1 || rss[0].Name != orphan.Name {
		t.Fatalf("ReplicaSets %v", rss)
	}
	if ref := metav1.GetControllerOf(rss[0]); ref == nil || ref.UID != created.UID {
		t.Errorf("not adopted: %+v", ref)
	}
}

func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		replicas           int32
		surge, unavailable intstr.IntOrString
		wantS, wantU       int32
	}{
		{4, intstr.FromString("25%"), intstr.FromString("25%"), 1, 1},
		{3, intstr.FromString("25%"), intstr.FromString("25%"), 1, 0},
		{10, intstr.FromString("25%"), intstr.FromString("25%"), 3, 2},
		{1, intstr.FromString("25%"), intstr.FromString("25%"), 1, 0},
		{10, intstr.FromInt32(0), intstr.FromString("5%"), 0, 1}, // both 0: one may be unavailable
		{2, intstr.FromInt32(3), intstr.FromInt32(5), 3, 2},
	} {
		d := webDeployment(tc.replicas)
		d.Spec.Strategy = rolling(tc.surge, tc.unavailable)
		if s, u := limits(d); s != tc.wantS || u != tc.wantU {
			t.Errorf("%d replicas, %s/%s: surge %d unavailable %d, want %d %d", tc.replicas, tc.surge.String(), tc.unavailable.String(), s, u, tc.wantS, tc.wantU)
		}
	}
	d := webDeployment(4)
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if s, u := limits(d); s != 0 || u != 0 {
		t.Errorf("Recreate: %d %d", s, u)
	}
}

func TestTemplateHash(t *testing.T) {
	a, b := webDeployment(1), webDeployment(5)
	if templateHash(&a.Spec.Template, nil) != templateHash(&b.Spec.Template, nil) {
		t.Error("the replicas changed the hash")
	}
	h1 := templateHash(&a.Spec.Template, nil)
	if !regexp.MustCompile(`^[a-z0-9]{1,10}$`).MatchString(h1) {
		t.Errorf("hash %q", h1)
	}
	if h1 == templateHash(&a.Spec.Template, ptr.To[int32](1)) {
		t.Error("the collision count does not change the hash")
	}
	b.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": "2030-01-01T00:00:00Z"}
	if h1 == templateHash(&b.Spec.Template, nil) {
		t.Error("a restart does not change the hash")
	}
	if !sameTemplate(newReplicaSet(a, h1, 1, 1), a) {
		t.Error("the ReplicaSet's template differs from its Deployment's")
	}
	long := webDeployment(1)
	long.Name = "a-very-long-deployment-name-that-goes-on-and-on-and-on-and-on-and-on"
	if n := rsName(long, h1); len(n)+6 > 63 {
		t.Errorf("name %q is %d long", n, len(n))
	}
}

func TestHashCollisionPicksAnotherName(t *testing.T) {
	h := newHarness(t)
	d := webDeployment(1)
	defaulted := d.DeepCopy()
	h.res("Deployment").Default(defaulted)
	hash := templateHash(&defaulted.Spec.Template, nil)
	// Another app's ReplicaSet holds the name the template hashes to.
	other := webDeployment(0)
	other.Spec.Selector.MatchLabels = map[string]string{"app": "other"}
	other.Spec.Template.Labels = map[string]string{"app": "other"}
	other.Spec.Template.Spec.Containers[0].Image = "other"
	squatter := newReplicaSet(other, "x", 1, 0)
	squatter.Name, squatter.OwnerReferences = rsName(d, hash), nil
	if _, err := h.w.Create(h.ctx, "ReplicaSet", squatter); err != nil {
		t.Fatal(err)
	}
	h.create(d)
	h.eventually("1 pod of echo:1", func() bool {
		rs := h.rsOf("echo:1")
		return rs != nil && rs.Status.AvailableReplicas == 1 && h.deployment().Status.AvailableReplicas == 1
	})
	if cc := h.deployment().Status.CollisionCount; cc == nil || *cc != 1 {
		t.Fatalf("collisionCount %v", cc)
	}
	rs := h.rsOf("echo:1")
	if rs.Labels["app"] != "web" || rs.Name == squatter.Name || rs.Name != rsName(d, templateHash(&defaulted.Spec.Template, ptr.To[int32](1))) {
		t.Errorf("ReplicaSet %s %v", rs.Name, rs.Labels)
	}
}

func TestMinReadySecondsDelaysAvailability(t *testing.T) {
	h := newHarness(t)
	d := webDeployment(2)
	d.Spec.MinReadySeconds = 30
	h.create(d)
	h.eventually("2 ready pods, not yet available", func() bool {
		_, _, ready := h.counts()
		st := h.deployment().Status
		return ready == 2 && st.ReadyReplicas == 2 && st.AvailableReplicas == 0 && st.UnavailableReplicas == 2
	})
	if rs := h.rsOf("echo:1"); rs.Spec.MinReadySeconds != 30 {
		t.Errorf("ReplicaSet minReadySeconds %d", rs.Spec.MinReadySeconds)
	}
	if c := condition(h.deployment().Status.Conditions, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse {
		t.Errorf("Available %+v", c)
	}
	h.clk.Step(31 * time.Second)
	h.eventually("available", func() bool { return h.rolledOut("echo:1", 2) })
}
