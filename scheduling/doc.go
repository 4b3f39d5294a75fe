// Package scheduling places unbound pods on nodes.
//
// A pod waits in a priority queue ([Queue]); the scheduling loop pops it,
// runs the default [Pipeline] of filter and score plugins against the
// [Snapshot] of nodes and the pods bound or assumed on them, assumes the pod
// on the best node at once (so the next pod sees it) and binds it
// asynchronously through the caller's [Binder]. A pod that fits nowhere gets
// a [FitError] that counts, per reason, why each node was refused; the
// caller's [Recorder] turns it into a PodScheduled=False condition and a
// FailedScheduling event, and the pod waits in the queue until a cluster
// event could make it fit.
//
// The package reads cluster state through [Lister] and the On* event
// handlers of [Scheduler]; it writes only through [Binder] and [Recorder].
// See README.md for the pipeline and how the daemon wires it.
package scheduling
