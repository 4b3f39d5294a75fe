// Package reconciletest is what the controllers' tests share: an in-memory
// store with the default namespace, a fake clock, a StoreWriter stamping
// sequential UIDs, a quiet logger, a runner that stops the loops when the
// test ends, and a Recorder that keeps the events.
package reconciletest
