package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/agent/envvars"
	"github.com/skiffhq/skiff/agent/runtime"
	"github.com/skiffhq/skiff/agent/volumes"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels the agent puts on containers; they are how it finds a pod's
// containers again after a restart.
const (
	labelPodUID       = "skiff.pod/uid"
	labelPodName      = "skiff.pod/name"
	labelPodNamespace = "skiff.pod/namespace"
	labelContainer    = "skiff.container/name"
	labelAttempt      = "skiff.container/attempt"
	labelInit         = "skiff.container/init"
	labelSpecImage    = "skiff.container/image"
)

// startFailure is why a container could not be started, shown as its
// waiting reason until the next try.
type startFailure struct {
	reason  string
	message string
}

// Waiting reasons, as Kubernetes names them.
const (
	reasonContainerCreating = "ContainerCreating"
	reasonPodInitializing   = "PodInitializing"
	reasonCrashLoop         = "CrashLoopBackOff"
	reasonErrImagePull      = "ErrImagePull"
	reasonImagePullBackOff  = "ImagePullBackOff"
	reasonInvalidImageName  = "InvalidImageName"
	reasonErrImageNeverPull = "ErrImageNeverPull"
	reasonConfigError       = "CreateContainerConfigError"
	reasonCreateError       = "CreateContainerError"
)

func containerKey(uid types.UID, name string) string { return string(uid) + "/" + name }

// containerID names attempt n of a container of a pod (containerd allows
// 76 characters).
func containerID(uid types.UID, name string, attempt int) string {
	if len(name) > 30 {
		name = name[:30]
	}
	return fmt.Sprintf("%s-%s-%d", uid, name, attempt)
}

func (a *Agent) logPath(pod *corev1.Pod, name string, attempt int) string {
	return filepath.Join(a.logsDir(), pod.Namespace+"_"+pod.Name+"_"+string(pod.UID), name, strconv.Itoa(attempt)+".log")
}

// startContainer pulls the image, builds the container and starts it. A
// failure is remembered as the container's waiting reason and returned.
func (a *Agent) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt int, init bool, sb *sandbox, vols map[string]string) error {
	key := containerKey(pod.UID, c.Name)
	fail := func(reason, msg string) error {
		a.mu.Lock()
		a.lastErr[key] = startFailure{reason: reason, message: msg}
		a.mu.Unlock()
		return errors.New(reason + ": " + msg)
	}
	pullKey := "pull/" + key
	if d := a.backoff.wait(pullKey); d > 0 {
		a.mu.Lock()
		prev := a.pullErr[key]
		a.mu.Unlock()
		return fail(reasonImagePullBackOff, fmt.Sprintf("Back-off pulling image %q: %s", c.Image, prev))
	}
	creds, err := a.pullCredentials(ctx, pod)
	if err != nil {
		return fail(reasonErrImagePull, err.Error())
	}
	img, err := a.cfg.Runtime.EnsureImage(ctx, c.Image, pullPolicy(c), creds)
	if err != nil {
		var pe *runtime.PullError
		switch {
		case errors.As(err, &pe):
			a.backoff.nextPull(pullKey, a.clock.Now())
			a.mu.Lock()
			a.pullErr[key] = pe.Err.Error()
			a.mu.Unlock()
			a.event(ctx, pod, corev1.EventTypeWarning, "Failed", fmt.Sprintf("Failed to pull image %q: %v", c.Image, pe.Err))
			return fail(reasonErrImagePull, pe.Err.Error())
		case errors.Is(err, runtime.ErrImageNeverPull):
			return fail(reasonErrImageNeverPull, fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image))
		case strings.Contains(err.Error(), "image reference"):
			return fail(reasonInvalidImageName, err.Error())
		default:
			return fail(reasonErrImagePull, err.Error())
		}
	}
	a.backoff.reset(pullKey)
	a.mu.Lock()
	delete(a.pullErr, key)
	a.mu.Unlock()

	resolver := envvars.Resolver{Source: a.cfg.Cluster}
	env, err := resolver.Resolve(ctx, pod, c, sb.IP, a.cfg.HostIP)
	if err != nil {
		var ce *envvars.ConfigError
		if errors.As(err, &ce) {
			return fail(reasonConfigError, ce.Message)
		}
		return fail(reasonConfigError, err.Error())
	}
	mounts, err := containerMounts(pod, c, vols, sb)
	if err != nil {
		return fail(reasonConfigError, err.Error())
	}
	id := containerID(pod.UID, c.Name, attempt)
	spec := &runtime.ContainerSpec{
		ID: id, Image: img.Ref,
		Labels: map[string]string{
			labelPodUID: string(pod.UID), labelPodName: pod.Name, labelPodNamespace: pod.Namespace,
			labelContainer: c.Name, labelAttempt: strconv.Itoa(attempt), labelInit: strconv.FormatBool(init),
			labelSpecImage: c.Image,
		},
		Command: env.ExpandAll(c.Command), Args: env.ExpandAll(c.Args),
		Env: env.Vars, WorkingDir: c.WorkingDir, Mounts: mounts, NetNSPath: sb.NetNSPath,
		Hostname: podHostname(pod), Resources: cgroupResources(c), LogPath: a.logPath(pod, c.Name, attempt),
	}
	// A leftover of an earlier try of this attempt (created, never started).
	_ = a.cfg.Runtime.RemoveContainer(ctx, id)
	if err := a.cfg.Runtime.CreateContainer(ctx, spec); err != nil {
		return fail(reasonCreateError, err.Error())
	}
	a.mu.Lock()
	delete(a.lastErr, key)
	a.mu.Unlock()
	if err := a.cfg.Runtime.StartContainer(ctx, id); err != nil {
		// The runtime records the failure on the container (exit 128,
		// StartError): restarts and backoff treat it like a crash.
		a.event(ctx, pod, corev1.EventTypeWarning, "Failed", fmt.Sprintf("Error: container %s: %v", c.Name, err))
		return err
	}
	a.event(ctx, pod, corev1.EventTypeNormal, "Started", "Started container "+c.Name)
	return nil
}

func pullPolicy(c *corev1.Container) runtime.PullPolicy {
	switch c.ImagePullPolicy {
	case corev1.PullAlways:
		return runtime.PullAlways
	case corev1.PullNever:
		return runtime.PullNever
	case corev1.PullIfNotPresent:
		return runtime.PullIfNotPresent
	}
	// Kubernetes' default: Always for :latest or no tag, else IfNotPresent.
	ref := c.Image
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return runtime.PullIfNotPresent
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.Contains(last, ":") || strings.HasSuffix(last, ":latest") {
		return runtime.PullAlways
	}
	return runtime.PullIfNotPresent
}

// pullCredentials reads the pod's imagePullSecrets (.dockerconfigjson).
func (a *Agent) pullCredentials(ctx context.Context, pod *corev1.Pod) ([]runtime.Credential, error) {
	var out []runtime.Credential
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := a.cfg.Cluster.Secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			return nil, fmt.Errorf("imagePullSecrets %q: %w", ref.Name, err)
		}
		raw, ok := s.Data[corev1.DockerConfigJsonKey]
		if !ok {
			return nil, fmt.Errorf("imagePullSecrets %q: no %s key (type %s)", ref.Name, corev1.DockerConfigJsonKey, corev1.SecretTypeDockerConfigJson)
		}
		var cfg struct {
			Auths map[string]struct {
				Username string `json:"username"`
				Password string `json:"password"`
				Auth     string `json:"auth"`
			} `json:"auths"`
		}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, fmt.Errorf("imagePullSecrets %q: %w", ref.Name, err)
		}
		for host, au := range cfg.Auths {
			host = strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://")
			host = strings.TrimSuffix(strings.SplitN(host, "/", 2)[0], "/")
			if host == "index.docker.io" {
				host = "docker.io"
			}
			if au.Auth != "" {
				if _, err := base64.StdEncoding.DecodeString(au.Auth); err != nil {
					return nil, fmt.Errorf("imagePullSecrets %q: auths.%s.auth is not base64", ref.Name, host)
				}
			}
			out = append(out, runtime.Credential{Host: host, Username: au.Username, Password: au.Password, Auth: au.Auth})
		}
	}
	return out, nil
}

// containerMounts turns volumeMounts into bind mounts, plus the pod's
// /etc/hosts, /etc/hostname and /etc/resolv.conf.
func containerMounts(pod *corev1.Pod, c *corev1.Container, vols map[string]string, sb *sandbox) ([]runtime.Mount, error) {
	// Volumes the agent rewrites (configMap, secret, projected, downward
	// API) are mounted read-only, as the kubelet does.
	readOnly := map[string]bool{}
	for i := range pod.Spec.Volumes {
		readOnly[pod.Spec.Volumes[i].Name] = volumes.ReadOnly(&pod.Spec.Volumes[i])
	}
	var out []runtime.Mount
	for _, vm := range c.VolumeMounts {
		host, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMounts %q: the pod has no volume of that name", vm.Name)
		}
		if vm.SubPath != "" {
			if filepath.IsAbs(vm.SubPath) || strings.Contains(vm.SubPath, "..") {
				return nil, fmt.Errorf("volumeMounts %q: subPath %q must be a relative path without \"..\" in it", vm.Name, vm.SubPath)
			}
			host = filepath.Join(host, vm.SubPath)
		}
		out = append(out, runtime.Mount{HostPath: host, ContainerPath: vm.MountPath, ReadOnly: vm.ReadOnly || readOnly[vm.Name]})
	}
	out = append(out,
		runtime.Mount{HostPath: sb.Hosts, ContainerPath: "/etc/hosts"},
		runtime.Mount{HostPath: sb.Hostname, ContainerPath: "/etc/hostname"},
		runtime.Mount{HostPath: sb.Resolv, ContainerPath: "/etc/resolv.conf"},
	)
	return out, nil
}

// cgroupResources maps requests and limits to cgroup settings the way the
// kubelet does: shares from the CPU request, a CFS quota from the CPU
// limit, the memory limit as is.
func cgroupResources(c *corev1.Container) runtime.Resources {
	var r runtime.Resources
	req := c.Resources.Requests.Cpu()
	lim := c.Resources.Limits.Cpu()
	milli := req.MilliValue()
	if milli == 0 && !lim.IsZero() {
		milli = lim.MilliValue() // a limit alone implies an equal request
	}
	if milli > 0 {
		r.CPUShares = uint64(milli * 1024 / 1000)
		if r.CPUShares < 2 {
			r.CPUShares = 2
		}
	}
	if !lim.IsZero() {
		r.CPUPeriod = 100000
		r.CPUQuota = lim.MilliValue() * 100000 / 1000
		if r.CPUQuota < 1000 {
			r.CPUQuota = 1000
		}
	}
	if m := c.Resources.Limits.Memory(); !m.IsZero() {
		r.MemoryLimit = m.Value()
	}
	return r
}
