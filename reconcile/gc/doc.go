// Package gc is the garbage collector: it deletes, in the background, the
// objects whose owners (metadata.ownerReferences) are all gone, and removes
// the references to gone owners from objects that still have a live one.
//
// An owner is identified by its UID: an owner recreated under the same name
// is another object, and the dependents of the old one are still collected.
// A dependent with finalizers is only marked for deletion (deletionTimestamp
// set) and goes once they are removed.
//
// It also carries out the propagation policies of deletions: an owner
// deleted with propagationPolicy Orphan carries the "orphan" finalizer
// until the collector has removed it from its dependents' ownerReferences;
// with Foreground it carries "foregroundDeletion" until the collector has
// deleted its dependents (in the background) and they are gone.
package gc
