package hpa

import (
	"errors"
	"math"
)

// DefaultTolerance is how far usage may stray from the target before the
// autoscaler acts (Kubernetes' --horizontal-pod-autoscaler-tolerance).
const DefaultTolerance = 0.1

// PodSample is what the calculator knows of one pod for one resource.
type PodSample struct {
	Name  string
	Ready bool
	// Request is the pod's request of the resource (millicores, bytes);
	// needed for utilization targets.
	Request int64
	// Usage is valid when HasUsage: the pod has metrics.
	Usage    int64
	HasUsage bool
}

// Target is one metric's goal: a utilization percentage of the requests,
// or an average value per pod (millicores, bytes).
type Target struct {
	Utilization  int32 // percent; 0 when AverageValue is used
	AverageValue int64
}

// Recommendation is what one metric asks for.
type Recommendation struct {
	Replicas int32
	// Current is the metric's current value as the status reports it:
	// average utilization (percent) or average value.
	Current int64
}

// ErrNoMetrics: no ready pod of the target has metrics yet.
var ErrNoMetrics = errors.New("no metrics for any ready pod of the target yet")

// errNoRequest says a utilization target cannot be computed.
type errNoRequest struct{ pod string }

func (e errNoRequest) Error() string {
	return "missing request for the resource on pod " + e.pod + " (a utilization target needs every container's request)"
}

// Replicas is Kubernetes' replica calculation for one resource metric:
// the usage ratio over the ready pods with metrics decides the direction;
// pods without metrics count as using nothing when scaling up and all of
// their request (or the target) when scaling down; pods not ready count
// as using nothing, and only when scaling up; within the tolerance, or
// when those assumptions would reverse the direction, nothing changes.
func Replicas(current int32, pods []PodSample, t Target, tolerance float64) (Recommendation, error) {
	var readyUsage, readyRequest int64
	var ready int
	var missing, unready []PodSample
	for _, p := range pods {
		if t.Utilization > 0 && p.Request <= 0 {
			return Recommendation{}, errNoRequest{p.Name}
		}
		switch {
		case !p.HasUsage:
			missing = append(missing, p)
		case !p.Ready:
			unready = append(unready, p)
		default:
			ready++
			readyUsage += p.Usage
			readyRequest += p.Request
		}
	}
	ratio := func(usage, request int64, n int) float64 {
		if t.Utilization > 0 {
			if request == 0 {
				return 0
			}
			return float64(usage) * 100 / float64(request) / float64(t.Utilization)
		}
		if n == 0 || t.AverageValue == 0 {
			return 0
		}
		return float64(usage) / float64(n) / float64(t.AverageValue)
	}
	currentValue := func(usage, request int64, n int) int64 {
		if t.Utilization > 0 {
			if request == 0 {
				return 0
			}
			return usage * 100 / request
		}
		if n == 0 {
			return 0
		}
		return usage / int64(n)
	}
	if ready == 0 {
		return Recommendation{}, ErrNoMetrics
	}
	usageRatio := ratio(readyUsage, readyRequest, ready)
	rec := Recommendation{Replicas: current, Current: currentValue(readyUsage, readyRequest, ready)}
	if len(missing) == 0 && len(unready) == 0 {
		if math.Abs(1-usageRatio) <= tolerance {
			return rec, nil
		}
		rec.Replicas = int32(math.Ceil(usageRatio * float64(ready)))
		return rec, nil
	}
	usage, request, n := readyUsage, readyRequest, ready
	for _, p := range missing {
		n++
		request += p.Request
		if usageRatio < 1 {
			// Scaling down: a pod without metrics is taken at the target.
			if t.Utilization > 0 {
				usage += p.Request * int64(t.Utilization) / 100
			} else {
				usage += t.AverageValue
			}
		}
	}
	if usageRatio > 1 {
		// Scaling up: pods not ready yet take part, using nothing.
		for _, p := range unready {
			n++
			request += p.Request
		}
	}
	newRatio := ratio(usage, request, n)
	if math.Abs(1-newRatio) <= tolerance || usageRatio < 1 && newRatio > 1 || usageRatio > 1 && newRatio < 1 {
		return rec, nil
	}
	desired := int32(math.Ceil(newRatio * float64(n)))
	if newRatio < 1 && desired > current || newRatio > 1 && desired < current {
		return rec, nil
	}
	rec.Replicas = desired
	return rec, nil
}
