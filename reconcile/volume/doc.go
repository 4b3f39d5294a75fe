// Package volume is the leader's persistent volume controller: it binds
// claims to volumes, provisions local-path volumes on the node the
// scheduler chose for a claim's first pod, releases a volume when its
// claim goes and reclaims it as its policy says (Delete: the agent of its
// node removes the directory; Retain: kept), and keeps a claim that a pod
// still uses until the pod is gone (the pvc-protection finalizer).
package volume
