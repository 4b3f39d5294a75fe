// Package hpa is the HorizontalPodAutoscaler controller (autoscaling/v2):
// every sync period it reads the CPU and memory use of the target's pods
// (from the metrics the leader collects), computes the replicas each
// metric wants with Kubernetes' algorithm (desired = ceil(current × usage
// / target), a tolerance of 0.1, pods without metrics or not ready counted
// conservatively), takes the largest, applies the stabilization windows
// and rate policies of spec.behavior and the min/max bounds, scales the
// target, and reports status, conditions and events that say why.
package hpa
