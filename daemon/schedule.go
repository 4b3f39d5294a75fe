package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/scheduling"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// schedulerParts are what the leader's scheduler reads and writes with:
// the local FSM state, and Raft writes with resourceVersion preconditions.
type schedulerParts struct {
	m   *masterProc
	rec reconcile.Recorder
}

var (
	_ scheduling.Lister   = schedulerParts{}
	_ scheduling.Binder   = schedulerParts{}
	_ scheduling.Recorder = schedulerParts{}
)

func (p schedulerParts) ListNodes() ([]*corev1.Node, error) {
	var out []*corev1.Node
	for _, o := range p.m.node.FSM().View().List("Node", "") {
		out = append(out, o.(*corev1.Node))
	}
	return out, nil
}

func (p schedulerParts) ListPods() ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, o := range p.m.node.FSM().View().List("Pod", "") {
		out = append(out, o.(*corev1.Pod))
	}
	return out, nil
}

func (p schedulerParts) Claim(namespace, name string) *corev1.PersistentVolumeClaim {
	c, _ := p.m.node.FSM().View().Get("PersistentVolumeClaim", namespace, name).(*corev1.PersistentVolumeClaim)
	return c
}

func (p schedulerParts) Volume(name string) *corev1.PersistentVolume {
	v, _ := p.m.node.FSM().View().Get("PersistentVolume", "", name).(*corev1.PersistentVolume)
	return v
}

func (p schedulerParts) StorageClass(name string) *storagev1.StorageClass {
	if name == "" {
		return nil
	}
	sc, _ := p.m.node.FSM().View().Get("StorageClass", "", name).(*storagev1.StorageClass)
	return sc
}

// Bind writes spec.nodeName and PodScheduled=True in one Raft write whose
// precondition is the pod version the scheduler decided on. The pod's
// unbound claims are first given the node (their provisioner makes their
// volumes there), as Kubernetes' volume binding does before binding.
func (p schedulerParts) Bind(ctx context.Context, pod *corev1.Pod, node string) error {
	if err := p.selectClaimsNode(ctx, pod, node); err != nil {
		return err
	}
	res, _ := p.m.reg.ByKind("Pod")
	rv, err := parseUint(pod.ResourceVersion)
	if err != nil {
		return err
	}
	upd := pod.DeepCopy()
	upd.Spec.NodeName = node
	setPodCondition(&upd.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue,
		LastTransitionTime: metav1.NewTime(time.Now().UTC().Truncate(time.Second))})
	_, err = p.m.store.Update(ctx, res, upd, rv)
	return err
}

// selectClaimsNode writes the selected-node annotation on each of the
// pod's unbound claims that has none. A claim already given another node
// (a second pod scheduled before the first's annotation was seen) fails
// the binding: the pod is retried against the claim as it is now.
func (p schedulerParts) selectClaimsNode(ctx context.Context, pod *corev1.Pod, node string) error {
	res, _ := p.m.reg.ByKind("PersistentVolumeClaim")
	for _, name := range apis.PodClaims(pod) {
		c := p.Claim(pod.Namespace, name)
		switch {
		case c == nil:
			return fmt.Errorf("persistentvolumeclaim %q not found", name)
		case c.Spec.VolumeName != "":
			continue
		case c.Annotations[apis.AnnotationSelectedNode] == node:
			continue
		case c.Annotations[apis.AnnotationSelectedNode] != "":
			return fmt.Errorf("persistentvolumeclaim %q is being provisioned on node %s", name, c.Annotations[apis.AnnotationSelectedNode])
		}
		rv, err := parseUint(c.ResourceVersion)
		if err != nil {
			return err
		}
		upd := c.DeepCopy()
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		upd.Annotations[apis.AnnotationSelectedNode] = node
		if _, err := p.m.store.Update(ctx, res, upd, rv); err != nil {
			return fmt.Errorf("giving claim %q node %s: %w", name, node, err)
		}
	}
	return nil
}

// PodUnschedulable tells the user why the pod waits: PodScheduled=False
// with the reasons, and a FailedScheduling event; nothing is written when
// the pod already says so.
func (p schedulerParts) PodUnschedulable(ctx context.Context, pod *corev1.Pod, fitErr *scheduling.FitError) error {
	msg := fitErr.Error()
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message == msg {
			return nil
		}
	}
	res, _ := p.m.reg.ByKind("Pod")
	rv, err := parseUint(pod.ResourceVersion)
	if err != nil {
		return err
	}
	now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	upd := pod.DeepCopy()
	setPodCondition(&upd.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: msg, LastTransitionTime: now})
	if _, err := p.m.store.Update(ctx, res, upd, rv); err != nil && !apierrors.IsConflict(err) {
		return err
	}
	p.rec.Event(ctx, typedPod(pod), corev1.EventTypeWarning, "FailedScheduling", msg)
	return nil
}

func setPodCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				c.LastTransitionTime = st.Conditions[i].LastTransitionTime
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// runScheduler schedules pods while this master leads. A scheduler lives
// as long as its watches: when one ends (fell behind the history), a new
// scheduler starts from a fresh list.
func (m *masterProc) runScheduler(ctx context.Context) {
	w := reconcile.NewStoreWriter(reconcile.StoreWriterConfig{Store: m.store, Registry: m.reg})
	parts := schedulerParts{m: m, rec: reconcile.NewStoreRecorder(reconcile.StoreRecorderConfig{
		Writer: w, Component: "default-scheduler", Instance: m.id, Logger: m.log})}
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		s, err := scheduling.New(scheduling.Config{Lister: parts, Binder: parts, Recorder: parts, Volumes: parts,
			Logger: m.log.With("component", "scheduler")})
		if err != nil {
			cancel()
			m.log.Error("scheduler", "err", err)
			return
		}
		rev := m.node.FSM().View().Revision()
		for _, kind := range []string{"Pod", "Node", "PersistentVolumeClaim", "PersistentVolume", "StorageClass"} {
			res, _ := m.reg.ByKind(kind)
			w, err := m.raw.Watch(sctx, res, storage.WatchOptions{ResourceVersion: rev})
			if err != nil {
				m.log.Warn("scheduler watch", "kind", kind, "err", err)
				cancel()
				break
			}
			go func() {
				defer cancel()
				defer w.Stop()
				for ev := range w.Events() {
					feedScheduler(s, ev)
				}
			}()
		}
		if err := s.Run(sctx); err != nil && sctx.Err() == nil {
			m.log.Warn("scheduler stopped; starting again", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func feedScheduler(s *scheduling.Scheduler, ev storage.Event) {
	var prev any
	if ev.Prev != nil {
		prev = ev.Prev.Object()
	}
	switch obj := ev.Object.Object().(type) {
	case *corev1.Pod:
		switch ev.Type {
		case storage.Added:
			s.OnPodAdd(obj)
		case storage.Modified:
			old, _ := prev.(*corev1.Pod)
			s.OnPodUpdate(old, obj)
		case storage.Deleted:
			s.OnPodDelete(obj)
		}
	case *corev1.PersistentVolumeClaim, *corev1.PersistentVolume, *storagev1.StorageClass:
		if ev.Type != storage.Deleted {
			s.OnVolumeChange()
		}
	case *corev1.Node:
		switch ev.Type {
		case storage.Added:
			s.OnNodeAdd(obj)
		case storage.Modified:
			old, _ := prev.(*corev1.Node)
			s.OnNodeUpdate(old, obj)
		case storage.Deleted:
			s.OnNodeDelete(obj)
		}
	}
}

// typedPod makes sure the pod names its kind, which an event's reference
// needs.
func typedPod(pod *corev1.Pod) *corev1.Pod {
	if pod.Kind != "" {
		return pod
	}
	p := pod.DeepCopy()
	p.APIVersion, p.Kind = "v1", "Pod"
	return p
}
