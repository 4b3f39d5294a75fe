// Package runtime is the agent's boundary to the container runtime: a small,
// context-first interface over images, containers, exec and usage. The real
// implementation (package containerd below) drives containerd through its Go
// client; Fake is an in-memory runtime for unit tests and scale benchmarks.
//
// The runtime knows nothing about pods: a container carries labels naming its
// pod and attempt, and the agent's sync loop decides what to run from those.
package runtime
