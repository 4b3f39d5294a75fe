// Package auth decides who a request comes from (a client certificate of
// the cluster CA) and what it may do: the roles admin, edit, view, node
// (restricted to what its own pods need) and server (a master).
package auth
