// Package server serves skiff's HTTP API: Kubernetes-shaped REST paths over
// a storage.Store, with defaulting, validation, strict decoding, patches,
// watches, discovery and the cluster endpoints. It never imports the store's
// implementation; the daemon hands it one.
package server
