// Package reconcile is the framework of the leader's controllers: informers
// that keep a local, indexed cache of one kind from the store (list, then
// watch; list again when the watch falls out of the history), a Controller
// runner that feeds keys from a rate-limited work queue (package queue) to
// a level-triggered sync function, expectations that keep a controller from
// repeating writes its cache does not show yet, and the Writer and Recorder
// through which controllers change the cluster.
//
// Event handlers only enqueue keys; all decisions are made in sync, from
// the cache, so that any sync can be repeated. Everything here is built
// anew each time a master becomes leader and stopped (by cancelling the
// context given to Run) when it stops being leader; see README.md.
//
// Controllers live in subpackages, one per kind: replicaset.
package reconcile
