// Package defaults fills in what Kubernetes' defaulting fills in, so that a
// stored object reads back the way a Kubernetes user expects (restartPolicy
// Always, a 25% rolling update, targetPort = port, ...). One file per
// resource family.
package defaults
