// Package storage is the contract between the HTTP API (and the leader's
// scheduler and controllers) and the replicated store that implements it
// (raftfsm). The API never imports the store; the daemon hands it one.
package storage
