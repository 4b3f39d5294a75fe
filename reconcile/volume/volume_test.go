package volume

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/reconciletest"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type harness struct {
	t   *testing.T
	env *reconciletest.Env
	rec *reconciletest.Recorder
}

func start(t *testing.T) *harness {
	env := reconciletest.NewEnv(t)
	infs := reconcile.NewInformers(env.Store, env.Registry, env.Log)
	rec := &reconciletest.Recorder{}
	c := New(Config{Claims: infs.For("PersistentVolumeClaim"), Volumes: infs.For("PersistentVolume"), Classes: infs.For("StorageClass"),
		Nodes: infs.For("Node"), Pods: infs.For("Pod"), Reader: env.Store, Writer: env.Writer, Recorder: rec, Clock: env.Clock, Logger: env.Log})
	env.Run(t, reconcile.Name("informers", infs), reconcile.Name(Name, c))
	h := &harness{t: t, env: env, rec: rec}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{corev1.LabelHostname: "n1"},
		Annotations: map[string]string{apis.AnnotationLocalPathRoot: "/var/lib/skiff/storage"}}}
	h.create("Node", n)
	return h
}

func (h *harness) create(kind string, obj apis.Object) {
	h.t.Helper()
	if _, err := h.env.Writer.Create(h.env.Ctx, kind, obj); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) get(kind, ns, name string) apis.Object {
	rec, err := h.env.Store.Get(h.env.Ctx, h.env.Res(kind), ns, name, true)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return rec.Object()
}

func (h *harness) claim(name string) *corev1.PersistentVolumeClaim {
	c, _ := h.get("PersistentVolumeClaim", "default", name).(*corev1.PersistentVolumeClaim)
	return c
}

func (h *harness) volume(name string) *corev1.PersistentVolume {
	v, _ := h.get("PersistentVolume", "", name).(*corev1.PersistentVolume)
	return v
}

func (h *harness) eventually(what string, cond func() error) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out: %s: %v", what, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *harness) update(kind string, obj apis.Object) {
	h.t.Helper()
	if _, err := h.env.Writer.Update(h.env.Ctx, kind, obj); err != nil {
		h.t.Fatal(err)
	}
}

func class(name string, policy corev1.PersistentVolumeReclaimPolicy) *storagev1.StorageClass {
	wait := storagev1.VolumeBindingWaitForFirstConsumer
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: apis.LocalPathProvisioner,
		ReclaimPolicy: &policy, VolumeBindingMode: &wait}
}

func newClaim(name, cls, size string) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Finalizers: []string{apis.FinalizerClaimProtection}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	if cls != "-" {
		c.Spec.StorageClassName = &cls
	}
	return c
}

func claimPod(name, claim string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{
		NodeName:   "n1",
		Containers: []corev1.Container{{Name: "c", Image: "echo"}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
	}}
}

// selectNode does what the scheduler does when the claim's first pod is
// placed.
func (h *harness) selectNode(claim, node string) {
	c := h.claim(claim).DeepCopy()
	c.Annotations = map[string]string{apis.AnnotationSelectedNode: node}
	h.update("PersistentVolumeClaim", c)
}

func TestLocalPathLifecycle(t *testing.T) {
	h := start(t)
	h.create("StorageClass", class("local-path", corev1.PersistentVolumeReclaimDelete))
	h.create("PersistentVolumeClaim", newClaim("data", "local-path", "1Gi"))
	h.eventually("the claim waits for its first pod", func() error {
		if !h.rec.Has("Normal WaitForFirstConsumer waiting for first consumer to be created before binding") {
			return fmt.Errorf("no event yet")
		}
		return nil
	})
	if c := h.claim("data"); c.Spec.VolumeName != "" {
		t.Fatalf("bound before a node was chosen: %s", c.Spec.VolumeName)
	}
	h.create("Pod", claimPod("user", "data"))
	h.selectNode("data", "n1")
	var pvName string
	h.eventually("a volume provisioned on n1 and bound", func() error {
		c := h.claim("data")
		if c.Spec.VolumeName == "" || c.Status.Phase != corev1.ClaimBound {
			return fmt.Errorf("claim %s %s", c.Spec.VolumeName, c.Status.Phase)
		}
		pvName = c.Spec.VolumeName
		pv := h.volume(pvName)
		if pv == nil || pv.Status.Phase != corev1.VolumeBound {
			return fmt.Errorf("volume %+v", pv)
		}
		return nil
	})
	pv, c := h.volume(pvName), h.claim("data")
	wantPath := "/var/lib/skiff/storage/" + pvName + "_default_data"
	if pv.Spec.Local == nil || pv.Spec.Local.Path != wantPath || pv.Labels[apis.LabelVolumeNode] != "n1" ||
		pv.Spec.ClaimRef.UID != c.UID || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "n1" {
		t.Fatalf("provisioned volume: %+v", pv)
	}
	if q := c.Status.Capacity[corev1.ResourceStorage]; q.String() != "1Gi" {
		t.Fatalf("claim capacity %s", q.String())
	}

	// Deleting the claim while its pod runs only marks it.
	if err := h.env.Writer.Delete(h.env.Ctx, "PersistentVolumeClaim", "default", "data", storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if c := h.claim("data"); c == nil || c.DeletionTimestamp == nil {
		t.Fatalf("claim in use: %+v", c)
	}
	// The pod ends: the claim goes, the volume is released and, by its
	// Delete policy, deleted; no claim holding it, its protection goes
	// too, and it waits for its node's agent.
	ended := h.get("Pod", "default", "user").(*corev1.Pod).DeepCopy()
	ended.Status.Phase = corev1.PodSucceeded
	if _, err := h.env.Writer.UpdateStatus(h.env.Ctx, "Pod", ended); err != nil {
		t.Fatal(err)
	}
	h.eventually("the claim gone, the volume being deleted", func() error {
		if c := h.claim("data"); c != nil {
			return fmt.Errorf("claim still there: %v", c.Finalizers)
		}
		pv := h.volume(pvName)
		if pv == nil || pv.DeletionTimestamp == nil || pv.Status.Phase != corev1.VolumeReleased ||
			slices.Contains(pv.Finalizers, apis.FinalizerVolumeProtection) {
			return fmt.Errorf("volume %+v", pv)
		}
		return nil
	})
	// The agent removes the directory, then the finalizer.
	next := h.volume(pvName).DeepCopy()
	next.Finalizers = nil
	h.update("PersistentVolume", next)
	h.eventually("the volume gone", func() error {
		if h.volume(pvName) != nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
}

func TestRetainKeepsTheReleasedVolume(t *testing.T) {
	h := start(t)
	h.create("StorageClass", class("keep", corev1.PersistentVolumeReclaimRetain))
	h.create("PersistentVolumeClaim", newClaim("db", "keep", "2Gi"))
	h.selectNode("db", "n1")
	var pvName string
	h.eventually("bound", func() error {
		if pvName = h.claim("db").Spec.VolumeName; pvName == "" {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if err := h.env.Writer.Delete(h.env.Ctx, "PersistentVolumeClaim", "default", "db", storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("released and kept", func() error {
		pv := h.volume(pvName)
		if h.claim("db") != nil || pv == nil || pv.Status.Phase != corev1.VolumeReleased || pv.DeletionTimestamp != nil {
			return fmt.Errorf("volume %+v", pv)
		}
		return nil
	})
	// A new claim of the same name does not get the old one's data.
	h.create("PersistentVolumeClaim", newClaim("db", "keep", "2Gi"))
	h.selectNode("db", "n1")
	h.eventually("the new claim gets a new volume", func() error {
		if v := h.claim("db").Spec.VolumeName; v == "" || v == pvName {
			return fmt.Errorf("volume %q", v)
		}
		return nil
	})
}

func TestStaticVolumesBindSmallestFit(t *testing.T) {
	h := start(t)
	static := func(name, size string, policy corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
			PersistentVolumeReclaimPolicy: policy,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/" + name}},
		}}
	}
	h.create("PersistentVolume", static("big", "10Gi", corev1.PersistentVolumeReclaimRetain))
	h.create("PersistentVolume", static("small", "2Gi", corev1.PersistentVolumeReclaimDelete))
	h.create("PersistentVolume", static("tiny", "500Mi", corev1.PersistentVolumeReclaimRetain))
	h.eventually("volumes available", func() error {
		for _, n := range []string{"big", "small", "tiny"} {
			if h.volume(n).Status.Phase != corev1.VolumeAvailable {
				return fmt.Errorf("%s %s", n, h.volume(n).Status.Phase)
			}
		}
		return nil
	})
	h.create("PersistentVolumeClaim", newClaim("logs", "", "1Gi"))
	h.eventually("bound to the smallest that fits", func() error {
		c := h.claim("logs")
		if c.Spec.VolumeName != "small" || c.Status.Phase != corev1.ClaimBound || h.volume("small").Status.Phase != corev1.VolumeBound {
			return fmt.Errorf("claim %q %s", c.Spec.VolumeName, c.Status.Phase)
		}
		return nil
	})
	// Delete on a volume skiff did not make: failed, said why, data kept.
	if err := h.env.Writer.Delete(h.env.Ctx, "PersistentVolumeClaim", "default", "logs", storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the static volume failed, not deleted", func() error {
		pv := h.volume("small")
		if pv == nil || pv.Status.Phase != corev1.VolumeFailed || h.rec.Count("VolumeFailedDelete") == 0 {
			return fmt.Errorf("volume %+v", pv)
		}
		return nil
	})
}

func TestUnknownClassIsReportedUntilCreated(t *testing.T) {
	h := start(t)
	h.create("PersistentVolumeClaim", newClaim("data", "fast", "1Gi"))
	h.eventually("a ProvisioningFailed event naming the class", func() error {
		if !h.rec.Has(`Warning ProvisioningFailed storageclass.storage.k8s.io "fast" not found`) {
			return fmt.Errorf("no event")
		}
		return nil
	})
	if c := h.claim("data"); c.Status.Phase != corev1.ClaimPending || c.Spec.VolumeName != "" {
		t.Fatalf("claim %+v", c)
	}
	h.create("StorageClass", class("fast", corev1.PersistentVolumeReclaimDelete))
	h.eventually("the class's creation takes the claim further", func() error {
		if h.rec.Count("WaitForFirstConsumer") == 0 {
			return fmt.Errorf("no event")
		}
		return nil
	})
	if strings.Contains(h.claim("data").Spec.VolumeName, "pvc-") {
		t.Fatal("provisioned without a node")
	}
}

// A bound volume deleted by hand stays, protected, until its claim goes;
// a claim whose pod was never scheduled does not hold it.
func TestBoundVolumeIsProtected(t *testing.T) {
	h := start(t)
	h.create("StorageClass", class("local-path", corev1.PersistentVolumeReclaimDelete))
	h.create("PersistentVolumeClaim", newClaim("data", "local-path", "1Gi"))
	h.selectNode("data", "n1")
	var pvName string
	h.eventually("bound and protected", func() error {
		pvName = h.claim("data").Spec.VolumeName
		if pvName == "" || !slices.Contains(h.volume(pvName).Finalizers, apis.FinalizerVolumeProtection) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if err := h.env.Writer.Delete(h.env.Ctx, "PersistentVolume", "", pvName, storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if pv := h.volume(pvName); pv == nil || !slices.Contains(pv.Finalizers, apis.FinalizerVolumeProtection) {
		t.Fatalf("a bound volume lost its protection: %+v", pv)
	}
	pending := claimPod("pending", "data")
	pending.Spec.NodeName = ""
	h.create("Pod", pending)
	if err := h.env.Writer.Delete(h.env.Ctx, "PersistentVolumeClaim", "default", "data", storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the claim gone despite the unscheduled pod, the volume unprotected", func() error {
		if h.claim("data") != nil {
			return fmt.Errorf("claim still there")
		}
		if pv := h.volume(pvName); pv == nil || slices.Contains(pv.Finalizers, apis.FinalizerVolumeProtection) {
			return fmt.Errorf("volume %+v", pv)
		}
		return nil
	})
}

// A claim of a class that binds on first consumer takes a free volume only
// once its node is chosen, and only one reachable from that node.
func TestWaitForFirstConsumerBindsAVolumeOfTheNode(t *testing.T) {
	h := start(t)
	h.create("Node", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{corev1.LabelHostname: "n2"}}})
	wait := storagev1.VolumeBindingWaitForFirstConsumer
	h.create("StorageClass", &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "disks"}, Provisioner: "kubernetes.io/no-provisioner",
		VolumeBindingMode: &wait})
	disk := func(name, node string) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain, StorageClassName: "disks",
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disk"}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		}}
	}
	h.create("PersistentVolume", disk("disk-n2", "n2"))
	h.create("PersistentVolume", disk("disk-n1", "n1"))
	h.create("PersistentVolumeClaim", newClaim("data", "disks", "1Gi"))
	time.Sleep(50 * time.Millisecond)
	if v := h.claim("data").Spec.VolumeName; v != "" {
		t.Fatalf("bound to %s before its node was chosen", v)
	}
	h.selectNode("data", "n1")
	h.eventually("bound to n1's disk", func() error {
		if v := h.claim("data").Spec.VolumeName; v != "disk-n1" {
			return fmt.Errorf("volume %q", v)
		}
		return nil
	})
}

// A claim whose chosen node is gone before its volume was made loses the
// choice, so that the scheduler can choose again.
func TestAGoneNodeIsForgotten(t *testing.T) {
	h := start(t)
	h.create("StorageClass", class("local-path", corev1.PersistentVolumeReclaimDelete))
	h.create("PersistentVolumeClaim", newClaim("data", "local-path", "1Gi"))
	h.selectNode("data", "gone")
	h.eventually("the choice forgotten", func() error {
		c := h.claim("data")
		if _, chosen := c.Annotations[apis.AnnotationSelectedNode]; chosen || c.Spec.VolumeName != "" {
			return fmt.Errorf("claim %+v", c.ObjectMeta.Annotations)
		}
		return nil
	})
	if h.rec.Count("ProvisioningFailed") == 0 {
		t.Error("no event saying why")
	}
}
