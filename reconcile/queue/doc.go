// Package queue is the controllers' work queue: string keys (usually
// "namespace/name"), each held at most once while waiting, never handed to
// two workers at once, and retried after a per-key exponential backoff.
//
// A worker loops on Get, syncs the key, then calls Forget (success) or
// AddRateLimited (failure), and always Done. A key added again while it is
// being processed comes out again after Done, so the latest change is never
// lost and never processed concurrently with an older one.
package queue
