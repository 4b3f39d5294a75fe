package agent

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// podWorker serializes the syncs of one pod.
type podWorker struct {
	uid  types.UID
	kick chan struct{}
}

func (a *Agent) startWorkerLocked(uid types.UID) *podWorker {
	w := &podWorker{uid: uid, kick: make(chan struct{}, 1)}
	a.workers[uid] = w
	a.wg.Add(1)
	go a.runWorker(w)
	w.kick <- struct{}{}
	return w
}

// runWorker syncs the pod whenever kicked, or when the sync asked to be
// woken (a backoff ending), until the pod is gone and cleaned up.
func (a *Agent) runWorker(w *podWorker) {
	defer a.wg.Done()
	ctx := a.ctx
	var wake <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-wake:
		}
		next, finished := a.syncPod(ctx, w.uid)
		if finished {
			a.mu.Lock()
			// A pod of this UID can't come back, but a kick may have
			// raced in: drop the worker only if nothing new arrived.
			if _, again := a.pods[w.uid]; !again || len(w.kick) == 0 {
				delete(a.workers, w.uid)
				a.mu.Unlock()
				return
			}
			a.mu.Unlock()
		}
		wake = nil
		if next > 0 {
			wake = a.clock.After(next)
		}
	}
}
