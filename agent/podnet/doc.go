// Package podnet gives pods their network: one network namespace per pod,
// wired to the node's bridge through CNI.
//
// Network is the agent's boundary. CNI is the real implementation: it creates
// the namespace itself (a bind-mounted file under Config.NetNSDir, named by
// the attachment id), then runs Debian's CNI plugins through go-cni — a
// conflist of bridge (host-local IPAM over the node's pod CIDR) and portmap
// (hostPort), plus loopback. Fake is an in-memory Network for the agent's
// unit tests.
//
// Attachment ids must be unique on the host, across agents sharing it: a
// second ADD with an id already in use fails, and the DEL that would follow
// frees the first pod's address. Setup therefore refuses an id it finds in
// use (ErrExists) without running any plugin, and rolls back only what it
// created itself.
//
// After a crash the agent calls GC with the ids it still wants: every netns
// file and IP allocation of any other id is torn down (CNI DEL works after
// the namespace is gone; it frees the address either way).
//
// Files: network.go (interface, types, errors), config.go (Config and the
// conflist), cni.go (Setup, Teardown), gc.go (GC and the IPAM listing),
// netns.go (namespace files, InNetNS), masq.go (masquerade rules DEL
// leaves behind), locks.go (per-id locks), fake.go.
package podnet
