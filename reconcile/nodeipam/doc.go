// Package nodeipam gives every node a pod CIDR: the next free /24 of the
// cluster CIDR, written to Node.spec.podCIDR on the Raft leader. The agent
// waits for it before it runs pods.
package nodeipam
