// Package client is skiff's Go client: typed reads, writes and watches over
// the HTTP API with fail-over across masters, the client config file, and an
// informer (a list+watch cache that relists when its watch is too old).
// The CLI, the agent and the controllers all use it.
package client
