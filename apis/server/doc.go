// Package server serves skiff's HTTP API: Kubernetes-shaped REST paths over
// a storage.Store, with defaulting, validation, strict decoding, patches,
// watches, discovery and the cluster endpoints. It never imports the store's
// implementation; the daemon hands it one. A pod's log and exec, and the
// images of the nodes, are served by the nodes' agents: the server
// authorizes the caller, finds the agent in the Node object and proxies
// (agents.go).
package server
