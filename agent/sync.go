package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/skiffhq/skiff/agent/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// retryAfterError is how soon a sync that failed for a passing reason
// (API, network setup, a missing ConfigMap) tries again.
const retryAfterError = 5 * time.Second

// podContainers groups a pod's runtime containers by name, newest attempt
// first.
type podContainers map[string][]runtime.Container

func groupContainers(cs []runtime.Container) podContainers {
	out := podContainers{}
	for _, c := range cs {
		out[c.Labels[labelContainer]] = append(out[c.Labels[labelContainer]], c)
	}
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool { return attemptOf(list[i]) > attemptOf(list[j]) })
	}
	return out
}

func attemptOf(c runtime.Container) int {
	n, _ := strconv.Atoi(c.Labels[labelAttempt])
	return n
}

func (pc podContainers) latest(name string) *runtime.Container {
	if l := pc[name]; len(l) > 0 {
		return &l[0]
	}
	return nil
}

func (pc podContainers) previous(name string) *runtime.Container {
	if l := pc[name]; len(l) > 1 {
		return &l[1]
	}
	return nil
}

// syncPod takes the next steps for one pod and reports its status. It
// returns when to look again (0: at the next kick) and whether the pod is
// gone for good.
func (a *Agent) syncPod(ctx context.Context, uid types.UID) (time.Duration, bool) {
	pod := a.pod(uid)
	if pod == nil || pod.DeletionTimestamp != nil || pod.Spec.NodeName != a.cfg.NodeName {
		return a.terminate(ctx, uid, pod)
	}
	log := a.log.With("pod", pod.Namespace+"/"+pod.Name)
	list, err := a.cfg.Runtime.ListContainers(ctx, map[string]string{labelPodUID: string(uid)})
	if err != nil {
		log.Warn("listing containers", "err", err)
		return retryAfterError, false
	}
	ctrs := groupContainers(list)
	if isTerminal(pod) {
		// Finished: nothing runs again; the address goes back to the pool.
		if err := a.releaseSandbox(ctx, uid); err != nil {
			log.Warn("releasing the network of a finished pod", "err", err)
			return retryAfterError, false
		}
		return 0, false
	}
	s := &podSync{a: a, pod: pod, ctrs: ctrs, waiting: map[string]startFailure{}}
	s.run(ctx)
	if s.changed {
		if list, err = a.cfg.Runtime.ListContainers(ctx, map[string]string{labelPodUID: string(uid)}); err != nil {
			log.Warn("listing containers", "err", err)
			return retryAfterError, false
		}
		s.ctrs = groupContainers(list)
		// Containers started just now are probed from now on, not from
		// the next sync (which may be a SyncPeriod away).
		s.probeRunning()
	}
	// On the fresh list, so that a restart removes the attempt it makes
	// third-newest, and init containers' attempts go too.
	s.pruneOld(ctx)
	status := s.status()
	if err := a.writeStatus(ctx, pod, status); err != nil {
		log.Warn("writing pod status", "err", err)
		return retryAfterError, false
	}
	if s.wake > 0 {
		return s.wake, false
	}
	return 0, false
}

// podSync is one sync of one running pod.
type podSync struct {
	a       *Agent
	pod     *corev1.Pod
	ctrs    podContainers
	sb      *sandbox
	waiting map[string]startFailure // container -> why it is not running
	podErr  *startFailure           // why no container could start at all
	changed bool                    // containers were started or stopped
	wake    time.Duration           // the earliest backoff to wake for
	failed  bool                    // an init container failed for good
}

func (s *podSync) wakeIn(d time.Duration) {
	if d > 0 && (s.wake == 0 || d < s.wake) {
		s.wake = d
	}
}

func (s *podSync) run(ctx context.Context) {
	a, pod := s.a, s.pod
	sb, err := a.ensureSandbox(ctx, pod)
	if err != nil {
		s.podErr = &startFailure{reason: "NetworkNotReady", message: err.Error()}
		a.event(ctx, pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", err.Error())
		s.wakeIn(retryAfterError)
		return
	}
	s.sb = sb
	vols, err := a.cfg.Volumes.Setup(ctx, pod)
	if err != nil {
		s.podErr = &startFailure{reason: reasonConfigError, message: err.Error()}
		a.event(ctx, pod, corev1.EventTypeWarning, "FailedMount", err.Error())
		s.wakeIn(retryAfterError)
		return
	}
	// Init containers run one at a time, in order; each must succeed.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		last := s.ctrs.latest(c.Name)
		if last != nil && last.State == runtime.StateExited && last.ExitCode == 0 {
			continue
		}
		if last != nil && last.State == runtime.StateExited && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			s.failed = true
			return
		}
		s.ensure(ctx, c, true, sb, vols, last)
		return
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		s.ensure(ctx, c, false, sb, vols, s.ctrs.latest(c.Name))
	}
}

// probeRunning hands the running app containers to the probe manager
// (which ignores a run it already has).
func (s *podSync) probeRunning() {
	if s.sb == nil {
		return
	}
	for i := range s.pod.Spec.Containers {
		c := &s.pod.Spec.Containers[i]
		if last := s.ctrs.latest(c.Name); last != nil && last.State == runtime.StateRunning {
			s.a.probes.AddContainer(string(s.pod.UID), s.sb.IP, c, last.ID, last.StartedAt)
		}
	}
}

// ensure moves one container toward running: start it, restart it after a
// crash (with backoff), or kill it when its liveness probe says so.
func (s *podSync) ensure(ctx context.Context, c *corev1.Container, init bool, sb *sandbox, vols map[string]string, last *runtime.Container) {
	a, pod := s.a, s.pod
	key := containerKey(pod.UID, c.Name)
	attempt := 0
	if last != nil {
		attempt = attemptOf(*last) + 1
		switch last.State {
		case runtime.StateRunning:
			if s.unhealthy(ctx, c, last) {
				s.changed = true
				return // the exit wakes the worker, which restarts it
			}
			a.probes.AddContainer(string(pod.UID), sb.IP, c, last.ID, last.StartedAt)
			if last.Labels[labelSpecImage] != c.Image {
				a.event(ctx, pod, corev1.EventTypeNormal, "Killing", fmt.Sprintf("Container %s definition changed, will be restarted", c.Name))
				a.stopContainer(ctx, pod, c, last.ID, a.gracePeriod(pod))
				s.changed = true
			}
			return
		case runtime.StateCreated:
			// Created but never started (the agent died in between).
			attempt--
		case runtime.StateExited:
			if !restartable(pod.Spec.RestartPolicy, init, last.ExitCode) {
				return
			}
			if !last.StartedAt.IsZero() && last.FinishedAt.Sub(last.StartedAt) >= backoffReset {
				a.backoff.reset(key)
			}
			if d := a.backoff.record(key, last.ID, last.FinishedAt); d > 0 {
				s.waiting[c.Name] = startFailure{reason: reasonCrashLoop,
					message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", roundBackoff(d), c.Name, pod.Name, pod.Namespace, pod.UID)}
				s.wakeIn(d)
				return
			}
		default:
			return
		}
	}
	s.changed = true
	if err := a.startContainer(ctx, pod, c, attempt, init, sb, vols); err != nil {
		a.mu.Lock()
		f, ok := a.lastErr[key]
		a.mu.Unlock()
		if ok {
			s.waiting[c.Name] = f
			switch f.reason {
			case reasonErrImagePull, reasonImagePullBackOff:
				s.wakeIn(a.backoff.wait("pull/" + key))
			}
			s.wakeIn(retryAfterError)
		} else if st, err := a.cfg.Runtime.ContainerStatus(ctx, containerID(pod.UID, c.Name, attempt)); err == nil && st.State == runtime.StateExited {
			// The process could not start and the runtime shows the
			// container exited (StartError): sync again at once, so that
			// it is restarted, or backs off, as after a crash.
			a.kick(pod.UID)
		} else {
			s.wakeIn(retryAfterError)
		}
	}
}

func roundBackoff(d time.Duration) time.Duration {
	return (d + time.Second/2).Truncate(time.Second)
}

// unhealthy kills a running container whose liveness (or startup) probe
// failed; it reports whether it did.
func (s *podSync) unhealthy(ctx context.Context, c *corev1.Container, last *runtime.Container) bool {
	a, pod := s.a, s.pod
	probeName := ""
	if alive, known := a.probes.Liveness(string(pod.UID), c.Name); known && !alive {
		probeName = "liveness"
	} else if failed := a.startupFailed(pod, c, last); failed {
		probeName = "startup"
	}
	if probeName == "" {
		return false
	}
	a.event(ctx, pod, corev1.EventTypeNormal, "Killing", fmt.Sprintf("Container %s failed %s probe, will be restarted", c.Name, probeName))
	a.stopContainer(ctx, pod, c, last.ID, a.gracePeriod(pod))
	a.probes.RemoveContainer(string(pod.UID), c.Name)
	return true
}

// startupFailed: the container's startup probe gave up on it.
func (a *Agent) startupFailed(_ *corev1.Pod, _ *corev1.Container, last *runtime.Container) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.startupGaveUp[last.ID] {
		delete(a.startupGaveUp, last.ID)
		return true
	}
	return false
}

func restartable(policy corev1.RestartPolicy, init bool, exit int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exit != 0
	}
	// Always: an app container always; an init container only until it
	// succeeds.
	return !init || exit != 0
}

// pruneOld removes every attempt older than the last two: the previous
// one stays for `logs --previous` and lastState.
func (s *podSync) pruneOld(ctx context.Context) {
	for _, list := range s.ctrs {
		for _, c := range list[min(2, len(list)):] {
			if c.State == runtime.StateRunning {
				continue
			}
			if err := s.a.cfg.Runtime.RemoveContainer(ctx, c.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				s.a.log.Debug("removing an old container", "container", c.ID, "err", err)
			}
		}
	}
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func (a *Agent) gracePeriod(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}
