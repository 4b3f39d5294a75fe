package agent

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/types"
)

// CleanUpLeftovers removes what an earlier run of the agent left behind for
// pods no longer bound here (it died mid-deletion, or the pods were deleted
// while it was down): their containers are stopped through the usual
// termination, their network attachments and volume directories removed.
// Call it once the pod list is synced, before Run.
func (a *Agent) CleanUpLeftovers(ctx context.Context) error {
	a.mu.Lock()
	keep := map[string]bool{}
	keepNet := map[string]bool{}
	for uid := range a.pods {
		keep[string(uid)] = true
		keepNet[a.netID(uid)] = true
	}
	a.mu.Unlock()
	var errs []error
	list, err := a.cfg.Runtime.ListContainers(ctx, nil)
	if err != nil {
		errs = append(errs, err)
	}
	orphans := map[string]bool{}
	for _, c := range list {
		if uid := c.Labels[labelPodUID]; uid != "" && !keep[uid] {
			orphans[uid] = true
		}
	}
	for uid := range orphans {
		// Terminating releases the pod's network and volumes too.
		if _, done := a.terminate(ctx, types.UID(uid), nil); !done {
			errs = append(errs, errors.New("could not clean up pod "+uid))
		}
	}
	if err := a.cfg.Network.GC(ctx, func(id string) bool { return keepNet[id] }); err != nil {
		errs = append(errs, err)
	}
	if err := a.cfg.Volumes.CleanupOrphans(keep); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
