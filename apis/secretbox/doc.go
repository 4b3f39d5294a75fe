// Package secretbox keeps Secret data encrypted (AES-256-GCM) everywhere
// below the API: in the Raft log, the state machine, snapshots and backups.
// It wraps the API's store: writes are encrypted on the way in, reads are
// decrypted on the way out, so only callers allowed to read a Secret ever
// see its value.
package secretbox
