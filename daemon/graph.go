package daemon

import (
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
)

// fsmGraph answers the node authorizer from this master's local state.
type fsmGraph struct{ fsm *raftfsm.FSM }

func (g fsmGraph) PodsOnNode(node string) []*corev1.Pod { return g.fsm.View().PodsOnNode(node) }

func (g fsmGraph) Pod(namespace, name string) *corev1.Pod { return g.fsm.View().Pod(namespace, name) }

func (g fsmGraph) PersistentVolume(name string) *corev1.PersistentVolume {
	pv, _ := g.fsm.View().Get("PersistentVolume", "", name).(*corev1.PersistentVolume)
	return pv
}
