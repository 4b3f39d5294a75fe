// Package agent is skiff's node agent, its kubelet: it registers the node,
// runs the pods bound to it through a runtime.Runtime with networking from a
// podnet.Network, projects their volumes, probes their containers, and
// reports their status and usage to the API.
//
// Each pod has a worker goroutine whose sync is level-triggered: it compares
// the pod's spec with what the runtime holds and takes the next step, then
// reports status. Watches, container exits, probe changes and a periodic
// resync only wake workers; the sync decides.
package agent
