package agent

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeConfig is what the agent says about its node.
type NodeConfig struct {
	Labels map[string]string
	Taints []corev1.Taint
	// MaxPods is the pod capacity; default 110, as the kubelet's.
	MaxPods int
	// Port is the agent endpoint's port (daemonEndpoints.kubeletEndpoint).
	Port int32
	// Version is skiff's version, reported as the kubelet version.
	Version string
	// Heartbeat is how often node status is written; default 10 s.
	Heartbeat time.Duration
	// Annotations are set on the Node at registration (the local-path
	// directory the agent offers, for one); an empty value removes one.
	Annotations map[string]string
}

// Register creates the Node (or brings an existing one's labels and taints
// up to date) and waits until the server has given it a pod CIDR, which it
// returns.
func (a *Agent) Register(ctx context.Context, nc NodeConfig) (*corev1.Node, error) {
	want := a.nodeObject(ctx, nc)
	for {
		node, err := a.cfg.Cluster.GetNode(ctx, a.cfg.NodeName)
		switch {
		case apierrors.IsNotFound(err):
			node, err = a.cfg.Cluster.CreateNode(ctx, want)
			if err == nil {
				a.log.Info("node registered", "node", a.cfg.NodeName)
			}
		case err == nil:
			node.Labels = mergeLabels(node.Labels, want.Labels)
			node.Annotations = mergeLabels(node.Annotations, nc.Annotations)
			maps.DeleteFunc(node.Annotations, func(_, v string) bool { return v == "" })
			if len(nc.Taints) > 0 {
				node.Spec.Taints = nc.Taints
			}
			if node, err = a.cfg.Cluster.UpdateNode(ctx, node); err == nil {
				node.Status = want.Status
				node, err = a.cfg.Cluster.UpdateNodeStatus(ctx, node)
			}
		}
		if err == nil && node.Spec.PodCIDR != "" {
			return node, nil
		}
		if err != nil {
			a.log.Warn("registering the node; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-a.clock.After(500 * time.Millisecond):
		}
	}
}

// Heartbeat writes the node's status every nc.Heartbeat until ctx ends.
func (a *Agent) Heartbeat(ctx context.Context, nc NodeConfig) {
	if nc.Heartbeat == 0 {
		nc.Heartbeat = 10 * time.Second
	}
	backoff := nc.Heartbeat
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.clock.After(backoff):
		}
		node, err := a.cfg.Cluster.GetNode(ctx, a.cfg.NodeName)
		if err == nil {
			node.Status = a.nodeObject(ctx, nc).Status
			_, err = a.cfg.Cluster.UpdateNodeStatus(ctx, node)
		}
		if err != nil {
			// The masters are away: pods keep running; try again later,
			// less often.
			a.log.Warn("node heartbeat failed", "err", err)
			backoff = min(backoff*2, time.Minute)
			continue
		}
		backoff = nc.Heartbeat
	}
}

func mergeLabels(have, want map[string]string) map[string]string {
	if have == nil {
		have = map[string]string{}
	}
	for k, v := range want {
		have[k] = v
	}
	return have
}

// nodeObject describes the node as it is now.
func (a *Agent) nodeObject(ctx context.Context, nc NodeConfig) *corev1.Node {
	if nc.MaxPods == 0 {
		nc.MaxPods = 110
	}
	labels := map[string]string{
		"kubernetes.io/hostname": a.cfg.NodeName,
		"kubernetes.io/os":       goruntime.GOOS,
		"kubernetes.io/arch":     goruntime.GOARCH,
	}
	for k, v := range nc.Labels {
		labels[k] = v
	}
	memTotal, memAvail := meminfo()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memTotal, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(int64(nc.MaxPods), resource.DecimalSI),
	}
	if total, _ := diskSpace(a.cfg.DataDir); total > 0 {
		capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(total, resource.BinarySI)
	}
	rtName, rtVersion, rtErr := a.cfg.Runtime.Version(ctx)
	hostname, _ := os.Hostname()
	now := metav1.NewTime(a.clock.Now())
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "AgentReady",
		Message: "skiff agent is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}
	if rtErr != nil {
		ready.Status, ready.Reason, ready.Message = corev1.ConditionFalse, "ContainerRuntimeNotReady", rtErr.Error()
	}
	memPressure := memAvail > 0 && memAvail < 100<<20
	_, diskFree := diskSpace(a.cfg.DataDir)
	diskPressure := diskFree >= 0 && diskFree < 1<<30
	node := &corev1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: labels, Annotations: nonEmpty(nc.Annotations)},
		Spec:       corev1.NodeSpec{Taints: nc.Taints},
		Status: corev1.NodeStatus{
			Capacity: capacity, Allocatable: capacity.DeepCopy(),
			Conditions: []corev1.NodeCondition{
				ready,
				pressure(corev1.NodeMemoryPressure, memPressure, "KubeletHasSufficientMemory", "KubeletHasInsufficientMemory", now),
				pressure(corev1.NodeDiskPressure, diskPressure, "KubeletHasNoDiskPressure", "KubeletHasDiskPressure", now),
				pressure(corev1.NodePIDPressure, false, "KubeletHasSufficientPID", "KubeletHasInsufficientPID", now),
			},
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.cfg.HostIP}, {Type: corev1.NodeHostName, Address: hostname}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: nc.Port}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID: readTrim("/etc/machine-id"), BootID: readTrim("/proc/sys/kernel/random/boot_id"),
				KernelVersion: kernelVersion(), OSImage: osImage(), OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH,
				ContainerRuntimeVersion: rtName + "://" + rtVersion, KubeletVersion: nc.Version, KubeProxyVersion: nc.Version,
			},
		},
	}
	return node
}

func pressure(t corev1.NodeConditionType, on bool, okReason, badReason string, now metav1.Time) corev1.NodeCondition {
	c := corev1.NodeCondition{Type: t, Status: corev1.ConditionFalse, Reason: okReason, LastHeartbeatTime: now, LastTransitionTime: now}
	if on {
		c.Status, c.Reason = corev1.ConditionTrue, badReason
	}
	return c
}

// meminfo returns MemTotal and MemAvailable in bytes.
func meminfo() (total, avail int64) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "MemTotal:":
			total = kb << 10
		case "MemAvailable:":
			avail = kb << 10
		}
	}
	return total, avail
}

// diskSpace returns the size and free space of the filesystem holding dir
// (-1 when unknown).
func diskSpace(dir string) (total, free int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, -1
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize
}

func readTrim(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}

func kernelVersion() string {
	return readTrim("/proc/sys/kernel/osrelease")
}

func osImage() string {
	raw, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return goruntime.GOOS
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return fmt.Sprint(goruntime.GOOS)
}

// nonEmpty returns the entries of m with a value, nil when none has.
func nonEmpty(m map[string]string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if v != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}
