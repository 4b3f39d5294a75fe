package probe

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Kubernetes defaults for a probe's fields left at zero.
const (
	defaultPeriod           = 10 * time.Second
	defaultTimeout          = 1 * time.Second
	defaultSuccessThreshold = 1
	defaultFailureThreshold = 3
)

// timing is a probe's schedule and thresholds with the defaults applied.
type timing struct {
	initialDelay     time.Duration
	period           time.Duration
	successThreshold int
	failureThreshold int
}

// timingFor applies the Kubernetes defaults to p. Liveness and startup
// probes always use a successThreshold of 1 (validation rejects anything
// else; a stray value here is overridden, not obeyed).
func timingFor(kind Kind, p *corev1.Probe) timing {
	t := timing{
		initialDelay:     time.Duration(max(p.InitialDelaySeconds, 0)) * time.Second,
		period:           time.Duration(p.PeriodSeconds) * time.Second,
		successThreshold: int(p.SuccessThreshold),
		failureThreshold: int(p.FailureThreshold),
	}
	if t.period <= 0 {
		t.period = defaultPeriod
	}
	if t.successThreshold <= 0 || kind != Readiness {
		t.successThreshold = defaultSuccessThreshold
	}
	if t.failureThreshold <= 0 {
		t.failureThreshold = defaultFailureThreshold
	}
	return t
}
