package hpa

import (
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Kubernetes' default behavior: scale up at once, by the larger of 4 pods
// and 100% per 15 s; scale down to the highest recommendation of the last
// 5 minutes, by up to 100% per 15 s.
var (
	defaultUpWindow   = int32(0)
	defaultDownWindow = int32(300)
	defaultUp         = []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}, {Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}
	defaultDown       = []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}
)

type timedReplicas struct {
	at       time.Time
	replicas int32
}

// history is one autoscaler's memory: recent recommendations (for the
// stabilization windows) and recent scale changes (for the rate
// policies). It lives in the leader's memory, as kube-controller-manager
// keeps it: a new leader starts afresh.
type history struct {
	recommendations []timedReplicas
	scaleUps        []timedReplicas // replicas added at a time
	scaleDowns      []timedReplicas // replicas removed at a time
}

func rules(b *autoscalingv2.HorizontalPodAutoscalerBehavior) (up, down *autoscalingv2.HPAScalingRules) {
	up = &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &defaultUpWindow, Policies: defaultUp}
	down = &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &defaultDownWindow, Policies: defaultDown}
	if b != nil && b.ScaleUp != nil {
		up = merge(b.ScaleUp, up)
	}
	if b != nil && b.ScaleDown != nil {
		down = merge(b.ScaleDown, down)
	}
	return up, down
}

func merge(r, def *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	out := *r
	if out.StabilizationWindowSeconds == nil {
		out.StabilizationWindowSeconds = def.StabilizationWindowSeconds
	}
	if len(out.Policies) == 0 {
		out.Policies = def.Policies
	}
	return &out
}

// stabilize records the recommendation and returns what the windows let
// through: never above the lowest recommendation of the scale-up window,
// never below the highest of the scale-down window.
func (h *history) stabilize(now time.Time, current, recommendation int32, up, down *autoscalingv2.HPAScalingRules) int32 {
	h.recommendations = append(h.recommendations, timedReplicas{now, recommendation})
	upCut := now.Add(-time.Duration(*up.StabilizationWindowSeconds) * time.Second)
	downCut := now.Add(-time.Duration(*down.StabilizationWindowSeconds) * time.Second)
	oldest := upCut
	if downCut.Before(oldest) {
		oldest = downCut
	}
	upRec, downRec := recommendation, recommendation
	kept := h.recommendations[:0]
	for _, r := range h.recommendations {
		if r.at.Before(oldest) {
			continue
		}
		kept = append(kept, r)
		if !r.at.Before(upCut) {
			upRec = min(upRec, r.replicas)
		}
		if !r.at.Before(downCut) {
			downRec = max(downRec, r.replicas)
		}
	}
	h.recommendations = kept
	out := current
	if out < upRec {
		out = upRec
	}
	if out > downRec {
		out = downRec
	}
	return out
}

// limit applies the rate policies: the replicas reachable from what the
// target had at the start of each policy's period.
func (h *history) limit(now time.Time, current, desired int32, up, down *autoscalingv2.HPAScalingRules) (int32, bool) {
	switch {
	case desired > current:
		bound := policyBound(now, current, h.scaleUps, up, +1)
		if desired > bound {
			return max(bound, current), true
		}
	case desired < current:
		bound := policyBound(now, current, h.scaleDowns, down, -1)
		if desired < bound {
			return min(bound, current), true
		}
	}
	return desired, false
}

// policyBound is the farthest the policies let the replicas go (sign +1
// up, -1 down), by selectPolicy (Max by default; Min; Disabled).
func policyBound(now time.Time, current int32, events []timedReplicas, r *autoscalingv2.HPAScalingRules, sign int32) int32 {
	if r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	pickMin := r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.MinChangePolicySelect
	var bound int32
	first := true
	for _, p := range r.Policies {
		var changed int32
		cut := now.Add(-time.Duration(p.PeriodSeconds) * time.Second)
		for _, e := range events {
			if e.at.After(cut) {
				changed += e.replicas
			}
		}
		start := current - sign*changed // replicas at the period's start
		var b int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			b = start + sign*p.Value
		default: // percent
			if sign > 0 {
				b = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
			} else {
				b = int32(math.Ceil(float64(start) * (1 - float64(p.Value)/100)))
			}
		}
		// Max change: the farthest bound; Min change: the nearest.
		farther := sign*b > sign*bound
		if first || farther != pickMin {
			bound, first = b, false
		}
	}
	return bound
}

// record remembers a scale change for the rate policies (periods are at
// most 30 minutes).
func (h *history) record(now time.Time, from, to int32) {
	cut := now.Add(-30 * time.Minute)
	prune := func(es []timedReplicas) []timedReplicas {
		out := es[:0]
		for _, e := range es {
			if e.at.After(cut) {
				out = append(out, e)
			}
		}
		return out
	}
	h.scaleUps, h.scaleDowns = prune(h.scaleUps), prune(h.scaleDowns)
	if to > from {
		h.scaleUps = append(h.scaleUps, timedReplicas{now, to - from})
	} else if to < from {
		h.scaleDowns = append(h.scaleDowns, timedReplicas{now, from - to})
	}
}
