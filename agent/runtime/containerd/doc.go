// Package containerd implements runtime.Runtime over containerd's Go client
// (v1.7, which talks to Debian's containerd 1.6). Every node uses its own
// containerd namespace, so several agents can share one daemon. Container
// output goes to a logging binary (the skiff executable itself) started by
// containerd's shim, so logs keep flowing, timestamped and rotated, while
// the agent restarts.
package containerd
