// Package gc is the garbage collector: it deletes, in the background, the
// objects whose owners (metadata.ownerReferences) are all gone, and removes
// the references to gone owners from objects that still have a live one.
//
// An owner is identified by its UID: an owner recreated under the same name
// is another object, and the dependents of the old one are still collected.
// Objects with finalizers are left alone. Orphaning (kubectl's
// --cascade=orphan) is the client's part: it removes the ownerReferences
// before deleting the owner, and the collector then has nothing to do.
package gc
