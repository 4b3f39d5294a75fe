package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skiffhq/skiff/agent/probe"
	"github.com/skiffhq/skiff/agent/runtime"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

// terminate stops a deleted pod's containers (preStop, SIGTERM, grace,
// SIGKILL), releases its network, volumes and files, and finally removes
// the pod from the API. pod is nil when the API no longer has it.
func (a *Agent) terminate(ctx context.Context, uid types.UID, pod *corev1.Pod) (time.Duration, bool) {
	log := a.log.With("pod", string(uid))
	if pod != nil {
		log = a.log.With("pod", pod.Namespace+"/"+pod.Name)
	}
	list, err := a.cfg.Runtime.ListContainers(ctx, map[string]string{labelPodUID: string(uid)})
	if err != nil {
		log.Warn("listing containers", "err", err)
		return retryAfterError, false
	}
	grace := 30 * time.Second
	if pod != nil {
		grace = a.gracePeriod(pod)
	}
	if pod != nil && pod.DeletionTimestamp != nil && pod.Status.PodIP != "" && a.cfg.OutOfRotation != nil && anyRunning(list) {
		a.cfg.OutOfRotation(ctx, pod)
	}
	var wg sync.WaitGroup
	for _, c := range list {
		if c.State != runtime.StateRunning {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var spec *corev1.Container
			if pod != nil {
				spec = findContainer(pod, c.Labels[labelContainer])
			}
			a.stopContainer(ctx, pod, spec, c.ID, grace)
		}()
	}
	wg.Wait()
	a.probes.RemovePod(string(uid))
	if err := a.releaseSandbox(ctx, uid); err != nil {
		log.Warn("releasing the pod's network", "err", err)
		return retryAfterError, false
	}
	for _, c := range list {
		if err := a.cfg.Runtime.RemoveContainer(ctx, c.ID); err != nil {
			log.Warn("removing a container", "container", c.ID, "err", err)
			return retryAfterError, false
		}
	}
	if err := a.cfg.Volumes.Cleanup(string(uid)); err != nil {
		log.Warn("removing the pod's volumes", "err", err)
		return retryAfterError, false
	}
	if err := os.RemoveAll(a.podDir(uid)); err != nil {
		log.Warn("removing the pod's files", "err", err)
	}
	if pod != nil {
		_ = os.RemoveAll(filepath.Join(a.logsDir(), pod.Namespace+"_"+pod.Name+"_"+string(uid)))
	} else {
		a.removeLogsOf(uid)
	}
	a.backoff.forgetPrefix(string(uid) + "/")
	a.backoff.forgetPrefix("pull/" + string(uid) + "/")
	a.mu.Lock()
	for k := range a.lastErr {
		if strings.HasPrefix(k, string(uid)+"/") {
			delete(a.lastErr, k)
			delete(a.pullErr, k)
		}
	}
	for k := range a.startupGaveUp {
		if strings.HasPrefix(k, string(uid)+"-") {
			delete(a.startupGaveUp, k)
		}
	}
	a.mu.Unlock()
	if pod != nil && pod.DeletionTimestamp != nil {
		err := a.cfg.Cluster.DeletePod(ctx, pod.Namespace, pod.Name, uid)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			log.Warn("removing the terminated pod from the API", "err", err)
			return retryAfterError, false
		}
	}
	return 0, true
}

func (a *Agent) removeLogsOf(uid types.UID) {
	matches, _ := filepath.Glob(filepath.Join(a.logsDir(), "*_"+string(uid)))
	for _, m := range matches {
		_ = os.RemoveAll(m)
	}
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// stopContainer runs the container's preStop hook within the grace period,
// then stops it with what is left of it.
func (a *Agent) stopContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, grace time.Duration) {
	start := a.clock.Now()
	if c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && pod != nil {
		hctx, cancel := context.WithTimeout(ctx, grace)
		if err := a.runHook(hctx, pod, c, id, c.Lifecycle.PreStop); err != nil {
			a.event(ctx, pod, corev1.EventTypeWarning, "FailedPreStopHook", fmt.Sprintf("PreStopHook failed for container %s: %v", c.Name, err))
		}
		cancel()
	}
	left := grace - a.clock.Since(start)
	if left < 0 {
		left = 0
	}
	if pod != nil && c != nil {
		a.event(ctx, pod, corev1.EventTypeNormal, "Killing", "Stopping container "+c.Name)
	}
	if err := a.cfg.Runtime.StopContainer(ctx, id, left); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		a.log.Warn("stopping a container", "container", id, "err", err)
	}
}

// runHook runs a lifecycle handler: exec in the container, an HTTP GET to
// the pod, or a sleep.
func (a *Agent) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		var out limitedBuffer
		code, err := a.cfg.Runtime.Exec(ctx, id, h.Exec.Command, nil, &out, &out)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", h.Exec.Command, code, out.b)
		}
		return nil
	case h.HTTPGet != nil:
		port, err := probe.ResolvePort(h.HTTPGet.Port, c)
		if err != nil {
			return err
		}
		host := h.HTTPGet.Host
		if host == "" {
			host = pod.Status.PodIP
		}
		scheme := "http"
		if h.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+h.HTTPGet.Path, nil)
		if err != nil {
			return err
		}
		for _, hd := range h.HTTPGet.HTTPHeaders {
			req.Header.Add(hd.Name, hd.Value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP GET %s: %s", req.URL, resp.Status)
		}
		return nil
	case h.Sleep != nil:
		select {
		case <-a.clock.After(time.Duration(h.Sleep.Seconds) * time.Second):
		case <-ctx.Done():
		}
		return nil
	}
	return nil
}

func anyRunning(list []runtime.Container) bool {
	for _, c := range list {
		if c.State == runtime.StateRunning {
			return true
		}
	}
	return false
}
