package agent

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skiffhq/skiff/agent/runtime"
	"github.com/skiffhq/skiff/apis/metricsstore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// cpuSample is a cumulative CPU reading.
type cpuSample struct {
	nanos uint64
	at    time.Time
}

// usageReporter turns cumulative CPU counters into rates.
type usageReporter struct {
	mu       sync.Mutex
	last     map[string]cpuSample // container ID -> last reading
	nodeLast cpuSample
}

// MeasureUsage reads every running pod's and the node's CPU and memory use
// every period until ctx ends, and keeps the latest report for Usage (the
// leader scrapes it from the agent's endpoint). CPU is the rate over the
// period; memory the working set now.
func (a *Agent) MeasureUsage(ctx context.Context, period time.Duration) {
	r := &usageReporter{last: map[string]cpuSample{}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.clock.After(period):
		}
		now := a.clock.Now()
		rep := &metricsstore.Report{Node: r.nodeMetrics(a.cfg.NodeName, now, period)}
		for _, pod := range a.Pods() {
			if m := r.podMetrics(ctx, a.cfg.Runtime, pod, now, period); m != nil {
				rep.Pods = append(rep.Pods, m)
			}
		}
		a.usage.Store(rep)
	}
}

// Usage is the latest usage report; nil before the first.
func (a *Agent) Usage() *metricsstore.Report { return a.usage.Load() }

func (r *usageReporter) podMetrics(ctx context.Context, rt runtime.Runtime, pod *corev1.Pod, now time.Time, period time.Duration) *metricsv1beta1.PodMetrics {
	list, err := rt.ListContainers(ctx, map[string]string{labelPodUID: string(pod.UID)})
	if err != nil {
		return nil
	}
	pm := &metricsv1beta1.PodMetrics{
		TypeMeta:   metav1.TypeMeta{APIVersion: "metrics.k8s.io/v1beta1", Kind: "PodMetrics"},
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels},
		Timestamp:  metav1.NewTime(now.UTC().Truncate(time.Second)),
		Window:     metav1.Duration{Duration: period},
	}
	for _, c := range list {
		if c.State != runtime.StateRunning || c.Labels[labelInit] == "true" {
			continue
		}
		u, err := rt.Usage(ctx, c.ID)
		if err != nil {
			continue
		}
		r.mu.Lock()
		prev, ok := r.last[c.ID]
		r.last[c.ID] = cpuSample{nanos: u.CPUNanos, at: u.Time}
		r.mu.Unlock()
		if !ok || !u.Time.After(prev.at) || u.CPUNanos < prev.nanos {
			continue // a rate needs two readings
		}
		milli := int64(float64(u.CPUNanos-prev.nanos) / float64(u.Time.Sub(prev.at).Nanoseconds()) * 1000)
		pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{
			Name: c.Labels[labelContainer],
			Usage: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(milli, resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(int64(u.MemoryWorkingSet), resource.BinarySI),
			},
		})
	}
	if len(pm.Containers) == 0 {
		return nil
	}
	return pm
}

// nodeMetrics reads the node's CPU (from /proc/stat) and memory in use
// (MemTotal - MemAvailable).
func (r *usageReporter) nodeMetrics(node string, now time.Time, period time.Duration) *metricsv1beta1.NodeMetrics {
	busy, ok := procStatBusyNanos()
	if !ok {
		return nil
	}
	r.mu.Lock()
	prev := r.nodeLast
	r.nodeLast = cpuSample{nanos: busy, at: now}
	r.mu.Unlock()
	if prev.at.IsZero() || !now.After(prev.at) || busy < prev.nanos {
		return nil
	}
	milli := int64(float64(busy-prev.nanos) / float64(now.Sub(prev.at).Nanoseconds()) * 1000)
	total, avail := meminfo()
	return &metricsv1beta1.NodeMetrics{
		TypeMeta:   metav1.TypeMeta{APIVersion: "metrics.k8s.io/v1beta1", Kind: "NodeMetrics"},
		ObjectMeta: metav1.ObjectMeta{Name: node},
		Timestamp:  metav1.NewTime(now.UTC().Truncate(time.Second)),
		Window:     metav1.Duration{Duration: period},
		Usage: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(milli, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(total-avail, resource.BinarySI),
		},
	}
}

// procStatBusyNanos is the CPU time all cores spent not idle, from the
// first line of /proc/stat (in USER_HZ = 100 ticks per second).
func procStatBusyNanos() (uint64, bool) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, false
	}
	var busy uint64
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += n
	}
	return busy * uint64(time.Second/100), true
}
