package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/skiffhq/skiff/agent/proxy"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// rotationLimit bounds how long a deleted pod's shutdown waits to leave
// its Services: past it, the pod stops anyway (the Endpoints controller or
// this agent's watch is lagging).
const rotationLimit = 5 * time.Second

// rotationGate holds a deleted pod's preStop and SIGTERM until Services
// send it no new connections: Kubernetes sends SIGTERM while proxies may
// still route to the pod (kubernetes#43576) and asks users for a preStop
// sleep; skiff waits for the facts it can see instead.
type rotationGate struct {
	mu      sync.Mutex
	watches *serviceWatches // nil until the watches start
	proxier *proxy.Proxier  // nil without a service proxy
	delay   time.Duration   // for the other nodes' proxies
	log     *slog.Logger
}

func (g *rotationGate) set(w *serviceWatches, p *proxy.Proxier) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.watches, g.proxier = w, p
}

// wait returns once (1) no Endpoints in this agent's watch list the pod as
// ready, (2) this node's proxy has programmed that, and (3) g.delay has
// passed for the other nodes' proxies; or after rotationLimit.
func (g *rotationGate) wait(ctx context.Context, pod *corev1.Pod) {
	g.mu.Lock()
	w, p := g.watches, g.proxier
	g.mu.Unlock()
	if w == nil || !g.selected(w, pod) {
		return // behind no Service: nothing routes to it
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, rotationLimit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for g.listed(w, pod) {
		select {
		case <-ctx.Done():
			g.log.Warn("the pod is still in its Services' endpoints; stopping it anyway", "pod", pod.Namespace+"/"+pod.Name, "waited", time.Since(start))
			return
		case <-tick.C:
		}
	}
	left := time.Now()
	if p != nil {
		if err := p.WaitApplied(ctx, left); err != nil {
			return
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(g.delay):
	}
	g.log.Debug("the pod left its Services before stopping", "pod", pod.Namespace+"/"+pod.Name, "waited", time.Since(start))
}

// listed reports whether an Endpoints object of the pod's namespace lists
// it as ready.
func (g *rotationGate) listed(w *serviceWatches, pod *corev1.Pod) bool {
	for _, o := range w.endpoints.List() {
		ep := o.(*corev1.Endpoints)
		if ep.Namespace != pod.Namespace {
			continue
		}
		for _, ss := range ep.Subsets {
			for _, a := range ss.Addresses {
				if isPod(a, pod) {
					return true
				}
			}
		}
	}
	return false
}

// selected reports whether a Service's selector matches the pod: then
// proxies may route to it (its Endpoints entry may already be gone when
// the agent hears of the deletion, but not yet from every proxy).
func (g *rotationGate) selected(w *serviceWatches, pod *corev1.Pod) bool {
	for _, o := range w.services.List() {
		svc := o.(*corev1.Service)
		if svc.Namespace == pod.Namespace && len(svc.Spec.Selector) > 0 &&
			labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			return true
		}
	}
	return false
}

func isPod(a corev1.EndpointAddress, pod *corev1.Pod) bool {
	if a.TargetRef != nil && a.TargetRef.UID != "" {
		return a.TargetRef.UID == pod.UID
	}
	return a.IP == pod.Status.PodIP
}
