// Package daemon wires skiff's parts into processes: `skiff server` (Raft
// node, API, leader loops, and later the local agent) and, later, `skiff
// agent`. It is the only package that imports all the others.
package daemon
