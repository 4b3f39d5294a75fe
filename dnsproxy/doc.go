// Package dnsproxy is the cluster DNS server every node's agent runs.
//
// It plays the part CoreDNS's kubernetes, forward and cache plugins play in
// Kubernetes: names under the cluster domain (Services, headless endpoints,
// Pods, SRV records for named ports) and reverse lookups of cluster
// addresses are answered from a Table the agent fills from its watches;
// everything else is forwarded to the node's upstream resolvers and cached.
//
// The files each have one job:
//
//   - names.go: name spelling rules (normalising, labels, dashed IPs).
//   - source.go: the slice of each Kubernetes object the table keeps.
//   - node.go: the precomputed answers of one owner name.
//   - records.go: turning services, endpoints and pods into nodes.
//   - table.go: the Table, its write path and its read path.
//   - server.go: Config, listeners and lifecycle.
//   - handler.go: answering one query.
//   - forward.go: asking the upstream resolvers, within a concurrency limit.
//   - cache.go: the cache of forwarded answers.
//   - resolvconf.go: reading upstreams from a resolv.conf file.
//
// The query path for cluster names is one map read under a read lock:
// every answer section is built when the table changes, so serving a query
// copies slice headers instead of building records.
package dnsproxy
