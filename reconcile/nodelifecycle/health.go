package nodelifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/reconcile"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// health is what the controller makes of a node's Ready condition.
type health struct {
	// ready is the node's readiness: the Ready condition's status, or
	// Unknown when its heartbeat has not changed for longer than the
	// grace; "" for a node that has posted no Ready condition yet and is
	// still within its grace.
	ready corev1.ConditionStatus
	cond  *corev1.NodeCondition // the Ready condition; nil if none
	// heartbeat is the Ready condition's lastHeartbeatTime (the node's
	// creation when it has none).
	heartbeat time.Time
	// stale: the heartbeat has not changed for longer than the grace and
	// the node does not say Unknown yet: the controller writes it.
	stale bool
}

// probe is the last heartbeat seen of a node and when it was seen.
type probe struct {
	heartbeat, seen time.Time
}

// observe returns when the node's current heartbeat was first seen.
func (c *Controller) observe(name string, heartbeat, now time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.probes[name]
	if !ok || !p.heartbeat.Equal(heartbeat) {
		p = probe{heartbeat: heartbeat, seen: now}
		c.probes[name] = p
	}
	return p.seen
}

func (h health) unhealthy() bool {
	return h.ready == corev1.ConditionFalse || h.ready == corev1.ConditionUnknown
}

func (c *Controller) healthOf(node *corev1.Node, now time.Time) health {
	h := health{heartbeat: node.CreationTimestamp.Time}
	for i := range node.Status.Conditions {
		if cond := &node.Status.Conditions[i]; cond.Type == corev1.NodeReady {
			h.cond = cond
			if !cond.LastHeartbeatTime.IsZero() {
				h.heartbeat = cond.LastHeartbeatTime.Time
			}
			break
		}
	}
	expired := now.Sub(c.observe(node.Name, h.heartbeat, now)) > c.cfg.MonitorGrace
	switch {
	case h.cond != nil && h.cond.Status == corev1.ConditionUnknown:
		h.ready = corev1.ConditionUnknown
	case expired:
		h.ready, h.stale = corev1.ConditionUnknown, true
	case h.cond != nil:
		h.ready = h.cond.Status
	}
	return h
}

// sync brings one node's conditions and taints in line with its
// heartbeat, and evicts the pods of an unhealthy node when their time has
// come.
func (c *Controller) sync(ctx context.Context, key string) error {
	if key == monitorKey {
		c.monitor(ctx)
		return nil
	}
	now := c.cfg.Clock.Now()
	obj, ok := c.cfg.Nodes.Get("", key)
	if !ok {
		c.forget(key)
		c.mu.Lock()
		delete(c.probes, key)
		c.mu.Unlock()
		return nil
	}
	err := c.syncNode(ctx, obj.(*corev1.Node), now)
	if err == nil && c.synced != nil {
		c.synced(key, obj.GetResourceVersion(), now)
	}
	return err
}

func (c *Controller) syncNode(ctx context.Context, node *corev1.Node, now time.Time) error {
	key := node.Name
	h := c.healthOf(node, now)
	if h.stale {
		var err error
		if node, err = c.markUnknown(ctx, node, h, now); err != nil {
			return err
		}
		h = c.healthOf(node, now)
	}
	if err := c.syncTaints(ctx, node, h.ready, now); err != nil {
		return err
	}
	if !h.unhealthy() {
		c.forget(key)
		return nil
	}
	return c.evict(ctx, node, h, c.since(key, h, now), now)
}

// markUnknown sets the node's conditions to Unknown: its agent stopped
// posting them.
func (c *Controller) markUnknown(ctx context.Context, node *corev1.Node, h health, now time.Time) (*corev1.Node, error) {
	upd := node.DeepCopy()
	t := metav1.NewTime(now)
	if h.cond == nil {
		upd.Status.Conditions = append(upd.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady})
	}
	for i := range upd.Status.Conditions {
		cond := &upd.Status.Conditions[i]
		if cond.Status == corev1.ConditionUnknown {
			continue
		}
		cond.Status, cond.Reason, cond.Message, cond.LastTransitionTime =
			corev1.ConditionUnknown, ReasonNodeStatusUnknown, MessageNodeStatusUnknown, t
	}
	obj, err := c.cfg.Writer.UpdateStatus(ctx, "Node", upd)
	if err != nil {
		return nil, fmt.Errorf("marking node %s Unknown: %w", node.Name, err)
	}
	c.log.Warn("node stopped posting its status", "node", node.Name, "lastHeartbeat", h.heartbeat, "grace", c.cfg.MonitorGrace)
	c.cfg.Recorder.Event(ctx, obj, corev1.EventTypeNormal, EventNodeNotReady,
		fmt.Sprintf("Node %s status is now: %s", node.Name, ReasonNodeStatusUnknown))
	return obj.(*corev1.Node), nil
}

// taintKey is the key of the taints a node of that readiness carries; ""
// for none.
func taintKey(ready corev1.ConditionStatus) string {
	switch ready {
	case corev1.ConditionUnknown:
		return corev1.TaintNodeUnreachable
	case corev1.ConditionFalse:
		return corev1.TaintNodeNotReady
	}
	return ""
}

// ours reports whether t is one of the taints the controller manages.
func ours(t corev1.Taint) bool {
	return (t.Key == corev1.TaintNodeUnreachable || t.Key == corev1.TaintNodeNotReady) &&
		(t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute)
}

// syncTaints gives the node the NoSchedule and NoExecute taints of its
// readiness and removes the others the controller manages.
func (c *Controller) syncTaints(ctx context.Context, node *corev1.Node, ready corev1.ConditionStatus, now time.Time) error {
	want := taintKey(ready)
	var out []corev1.Taint
	have := map[corev1.TaintEffect]bool{}
	changed := false
	for _, t := range node.Spec.Taints {
		if ours(t) {
			if t.Key != want {
				changed = true
				continue
			}
			have[t.Effect] = true
		}
		out = append(out, t)
	}
	if want != "" {
		for _, effect := range []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute} {
			if have[effect] {
				continue
			}
			t := corev1.Taint{Key: want, Effect: effect}
			if effect == corev1.TaintEffectNoExecute {
				added := metav1.NewTime(now)
				t.TimeAdded = &added
			}
			out = append(out, t)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	upd := node.DeepCopy()
	upd.Spec.Taints = out
	if _, err := c.cfg.Writer.Update(ctx, "Node", upd); err != nil {
		return fmt.Errorf("tainting node %s: %w", node.Name, err)
	}
	if want == "" {
		c.log.Info("node ready again; its not-ready and unreachable taints removed", "node", node.Name)
	} else {
		c.log.Info("node tainted", "node", node.Name, "taint", want)
	}
	return nil
}

// since returns when the node was first seen unhealthy.
func (c *Controller) since(name string, h health, now time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	since, ok := c.unhealthySince[name]
	if !ok {
		since = now
	}
	if h.ready == corev1.ConditionUnknown && h.cond != nil && !h.cond.LastTransitionTime.IsZero() &&
		h.cond.LastTransitionTime.Time.Before(since) {
		since = h.cond.LastTransitionTime.Time
	}
	c.unhealthySince[name] = since
	return since
}

func (c *Controller) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.unhealthySince, name)
}

// checkPartition reports whether evictions are paused: more than half of
// the nodes, and at least 3 nodes, are unhealthy at once. It logs and
// records the changes.
func (c *Controller) checkPartition(ctx context.Context, now time.Time) bool {
	nodes := reconcile.As[*corev1.Node](c.cfg.Nodes.List())
	var unhealthy []*corev1.Node
	for _, n := range nodes {
		if c.healthOf(n, now).unhealthy() {
			unhealthy = append(unhealthy, n)
		}
	}
	paused := len(nodes) >= 3 && 2*len(unhealthy) > len(nodes)
	c.mu.Lock()
	changed := paused != c.paused
	c.paused = paused
	c.mu.Unlock()
	if !changed {
		return paused
	}
	if paused {
		c.log.Warn("most nodes are unhealthy at once: taken for a network partition, not node failures; evictions paused",
			"unhealthy", len(unhealthy), "nodes", len(nodes))
	} else {
		c.log.Info("evictions resumed", "unhealthy", len(unhealthy), "nodes", len(nodes))
	}
	for _, n := range unhealthy {
		if paused {
			c.cfg.Recorder.Event(ctx, n, corev1.EventTypeWarning, EventEvictionsPaused,
				fmt.Sprintf("%d of %d nodes are unhealthy: taken for a network partition; pods are not evicted", len(unhealthy), len(nodes)))
		} else {
			c.cfg.Recorder.Event(ctx, n, corev1.EventTypeNormal, EventEvictionsResumed,
				fmt.Sprintf("%d of %d nodes are unhealthy: evictions resumed", len(unhealthy), len(nodes)))
		}
	}
	return paused
}
