// Package proxy is the agent's service proxy: it turns the cluster's
// Services and Endpoints into the kernel's load balancing, so that a
// connection to a Service's cluster IP (or a node port) reaches one of its
// ready pods.
//
// The work is split in two: Build computes the desired state (State: one
// ServicePort per Service port, with its ready endpoints) from the watched
// objects, a pure function with table tests; a Backend programs the kernel
// to match it. Backends: nftables (google/nftables; one table replaced
// atomically per sync, which also removes whatever is stale) and IPVS
// where the kernel has it. The Proxier watches, debounces and resyncs.
package proxy
