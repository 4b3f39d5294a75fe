// Package skiffv1 holds skiff's own kinds (group skiff.io, version v1):
// cluster machinery that Kubernetes has no kind for, such as the masters of
// the Raft cluster. One file per kind.
package skiffv1

// Group is the API group of skiff's own kinds.
const Group = "skiff.io"

// Version is their API version.
const Version = "v1"

// APIVersion is "skiff.io/v1".
const APIVersion = Group + "/" + Version
