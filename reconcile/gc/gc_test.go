package gc

import (
	"slices"
	"testing"

	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestReplicaSetDeletedDeletesItsPods(t *testing.T) {
	h := newHarness(t)
	rs := h.create("ReplicaSet", replicaSet("web"))
	h.create("Pod", pod("web-a", ref("ReplicaSet", rs)))
	bound := pod("web-b", ref("ReplicaSet", rs))
	bound.Spec.NodeName = "n1"
	bound.Spec.TerminationGracePeriodSeconds = ptr.To[int64](5)
	h.create("Pod", bound)
	other := h.create("ReplicaSet", replicaSet("other"))
	h.create("Pod", pod("other-a", ref("ReplicaSet", other)))
	quiet(t, "live owners keep their pods", func() bool {
		return h.get("Pod", "web-a") != nil && h.get("Pod", "web-b").GetDeletionTimestamp() == nil
	})

	h.remove("ReplicaSet", "web")
	eventually(t, "the unbound pod deleted", func() bool { return h.get("Pod", "web-a") == nil })
	eventually(t, "the bound pod marked for graceful deletion", func() bool {
		p := h.get("Pod", "web-b")
		return p != nil && p.GetDeletionTimestamp() != nil
	})
	if g := h.get("Pod", "web-b").(*corev1.Pod).DeletionGracePeriodSeconds; g == nil || *g != 5 {
		t.Errorf("grace %v", g)
	}
	quiet(t, "the other ReplicaSet's pod kept", func() bool { return h.get("Pod", "other-a") != nil })
}

func TestDeploymentDeletedDeletesReplicaSetsThenPods(t *testing.T) {
	h := newHarness(t)
	d := h.create("Deployment", deployment("web"))
	rs1 := h.create("ReplicaSet", replicaSet("web-1", ref("Deployment", d)))
	rs2 := h.create("ReplicaSet", replicaSet("web-2", ref("Deployment", d)))
	h.create("Pod", pod("web-1-a", ref("ReplicaSet", rs1)))
	h.create("Pod", pod("web-2-a", ref("ReplicaSet", rs2)))
	h.create("Pod", pod("web-2-b", ref("ReplicaSet", rs2)))
	quiet(t, "nothing collected", func() bool { return h.get("ReplicaSet", "web-1") != nil && h.get("Pod", "web-2-b") != nil })

	h.remove("Deployment", "web")
	eventually(t, "everything gone", func() bool {
		for _, n := range []string{"web-1", "web-2"} {
			if h.get("ReplicaSet", n) != nil {
				return false
			}
		}
		for _, n := range []string{"web-1-a", "web-2-a", "web-2-b"} {
			if h.get("Pod", n) != nil {
				return false
			}
		}
		return true
	})
}

// daemonWhole are the Collected kinds that the daemon's other controllers
// cache whole, so that the collector gets them whole too.
var daemonWhole = []string{"Pod", "ReplicaSet", "Deployment", "Service", "Endpoints", "HorizontalPodAutoscaler"}

// The collector's writes (references removed, dependents orphaned,
// finalizers removed) work whether its informers hold objects whole or
// metadata alone, and with both mixed, as the daemon wires them.
func TestWritesFromWholeAndMetadataCaches(t *testing.T) {
	for name, scenario := range map[string]func(*testing.T, *harness){
		"one of two owners deleted": oneOfTwoOwnersDeleted, "orphan": orphanPropagation, "foreground": foregroundPropagation,
	} {
		t.Run(name+", as the daemon wires it", func(t *testing.T) { scenario(t, newHarness(t, daemonWhole...)) })
	}
}

func TestOneOfTwoOwnersDeletedRemovesItsReference(t *testing.T) {
	oneOfTwoOwnersDeleted(t, newHarness(t))
}

func oneOfTwoOwnersDeleted(t *testing.T, h *harness) {
	a := h.create("ReplicaSet", replicaSet("a"))
	b := h.create("ReplicaSet", replicaSet("b"))
	refA, refB := ref("ReplicaSet", a), ref("ReplicaSet", b)
	refB.Controller = nil
	h.create("Pod", pod("shared", refA, refB))

	h.remove("ReplicaSet", "a")
	eventually(t, "the reference to a removed", func() bool {
		p := h.get("Pod", "shared")
		return p != nil && len(p.GetOwnerReferences()) == 1
	})
	p := h.get("Pod", "shared")
	if got := p.GetOwnerReferences()[0]; got.UID != b.GetUID() || p.GetDeletionTimestamp() != nil {
		t.Errorf("owners %+v, deletionTimestamp %v", p.GetOwnerReferences(), p.GetDeletionTimestamp())
	}
	quiet(t, "the pod kept", func() bool { return h.get("Pod", "shared") != nil })
}

func TestOwnerRecreatedUnderTheSameName(t *testing.T) {
	h := newHarness(t)
	old := h.create("ReplicaSet", replicaSet("web"))
	h.create("Pod", pod("web-old", ref("ReplicaSet", old)))
	h.remove("ReplicaSet", "web")
	fresh := h.create("ReplicaSet", replicaSet("web"))
	if fresh.GetUID() == old.GetUID() {
		t.Fatal("same UID")
	}
	h.create("Pod", pod("web-new", ref("ReplicaSet", fresh)))

	eventually(t, "the old owner's pod collected", func() bool { return h.get("Pod", "web-old") == nil })
	quiet(t, "the new owner's pod kept", func() bool { return h.get("Pod", "web-new") != nil })
}

func TestDanglingReferenceAtCreation(t *testing.T) {
	h := newHarness(t)
	h.create("Pod", pod("dangling", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "never", UID: "no-such-uid"}))
	eventually(t, "the pod of an owner that never existed collected", func() bool { return h.get("Pod", "dangling") == nil })
}

func TestUnresolvableOwnersAreKept(t *testing.T) {
	h := newHarness(t)
	h.create("Pod", pod("unknown-kind", metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "w-uid"}))
	h.create("Pod", pod("wrong-group", metav1.OwnerReference{APIVersion: "batch/v1", Kind: "ReplicaSet", Name: "x", UID: "x-uid"}))
	h.create("Pod", pod("gone", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x", UID: "x-uid"}))
	eventually(t, "the pod of a gone owner collected", func() bool { return h.get("Pod", "gone") == nil })
	quiet(t, "pods of owners it cannot look up kept", func() bool {
		return h.get("Pod", "unknown-kind") != nil && h.get("Pod", "wrong-group") != nil
	})
}

func TestFinalizersKeepTheDependent(t *testing.T) {
	h := newHarness(t)
	rs := h.create("ReplicaSet", replicaSet("web"))
	kept := pod("kept", ref("ReplicaSet", rs))
	kept.Finalizers = []string{"example.com/keep"}
	h.create("Pod", kept)
	h.create("Pod", pod("plain", ref("ReplicaSet", rs)))

	h.remove("ReplicaSet", "web")
	eventually(t, "the pod without finalizers collected", func() bool { return h.get("Pod", "plain") == nil })
	eventually(t, "the pod with a finalizer marked for deletion, finalizer and reference intact", func() bool {
		p := h.get("Pod", "kept")
		return p != nil && p.GetDeletionTimestamp() != nil && slices.Equal(p.GetFinalizers(), []string{"example.com/keep"}) &&
			len(p.GetOwnerReferences()) == 1
	})
	quiet(t, "and kept", func() bool { return h.get("Pod", "kept") != nil })

	// Once its finalizers are removed, it goes.
	p := h.get("Pod", "kept").(*corev1.Pod).DeepCopy()
	p.Finalizers = nil
	if _, err := h.w.Update(h.ctx, "Pod", p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted once its finalizers are gone", func() bool { return h.get("Pod", "kept") == nil })
}

// deleteWith deletes kind/name as the API does with a propagation policy.
func (h *harness) deleteWith(kind, name string, policy metav1.DeletionPropagation) {
	h.t.Helper()
	fin := storage.PropagationFinalizer(metav1.DeleteOptions{PropagationPolicy: &policy})
	if _, _, err := storage.DeleteHonouringFinalizers(h.ctx, h.store, h.res(kind), "default", name, storage.Preconditions{}, fin, h.clk.Now()); err != nil {
		h.t.Fatal(err)
	}
}

func TestOrphanPropagationKeepsTheDependents(t *testing.T) {
	orphanPropagation(t, newHarness(t))
}

func orphanPropagation(t *testing.T, h *harness) {
	d := h.create("Deployment", deployment("web"))
	h.create("ConfigMap", configMap("web-config", ref("Deployment", d)))
	rs := h.create("ReplicaSet", replicaSet("web-1", ref("Deployment", d)))
	h.create("Pod", pod("web-1-a", ref("ReplicaSet", rs)))
	other := h.create("ReplicaSet", replicaSet("other"))
	shared := ref("ReplicaSet", other)
	shared.Controller = nil
	h.create("ReplicaSet", replicaSet("web-2", ref("Deployment", d), shared))

	h.deleteWith("Deployment", "web", metav1.DeletePropagationOrphan)
	eventually(t, "the Deployment gone", func() bool { return h.get("Deployment", "web") == nil })
	quiet(t, "its ReplicaSets orphaned, not deleted, their pods kept", func() bool {
		rs1, rs2 := h.get("ReplicaSet", "web-1"), h.get("ReplicaSet", "web-2")
		return rs1 != nil && rs2 != nil && len(rs1.GetOwnerReferences()) == 0 && rs1.GetDeletionTimestamp() == nil &&
			len(rs2.GetOwnerReferences()) == 1 && rs2.GetOwnerReferences()[0].UID == other.GetUID() &&
			h.get("Pod", "web-1-a") != nil && h.get("ConfigMap", "web-config") != nil && len(h.get("ConfigMap", "web-config").GetOwnerReferences()) == 0
	})
}

func TestForegroundPropagationDeletesDependentsFirst(t *testing.T) {
	foregroundPropagation(t, newHarness(t))
}

func foregroundPropagation(t *testing.T, h *harness) {
	rs := h.create("ReplicaSet", replicaSet("web"))
	h.create("Pod", pod("web-a", ref("ReplicaSet", rs)))
	held := pod("web-held", ref("ReplicaSet", rs))
	held.Finalizers = []string{"example.com/hold"}
	h.create("Pod", held)

	h.deleteWith("ReplicaSet", "web", metav1.DeletePropagationForeground)
	eventually(t, "the free pod deleted, the held one marked", func() bool {
		p := h.get("Pod", "web-held")
		return h.get("Pod", "web-a") == nil && p != nil && p.GetDeletionTimestamp() != nil
	})
	quiet(t, "the ReplicaSet waits, marked, for the held pod", func() bool {
		r := h.get("ReplicaSet", "web")
		p := h.get("Pod", "web-held")
		return r != nil && r.GetDeletionTimestamp() != nil && p != nil && p.GetDeletionTimestamp() != nil
	})

	p := h.get("Pod", "web-held").(*corev1.Pod).DeepCopy()
	p.Finalizers = nil
	if _, err := h.w.Update(h.ctx, "Pod", p); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pod, then the ReplicaSet gone", func() bool {
		return h.get("Pod", "web-held") == nil && h.get("ReplicaSet", "web") == nil
	})
}
