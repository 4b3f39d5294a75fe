package raftfsm

import (
	"github.com/skiffhq/skiff/apis"
)

// Result is what applying a command returns: the objects it wrote, in the
// order of its operations (for a deletion, the object as it was).
type Result struct {
	Index   uint64
	Records []*record
}

// Objects returns the result's objects.
func (r *Result) Objects() []apis.Object {
	out := make([]apis.Object, len(r.Records))
	for i, rec := range r.Records {
		out[i] = rec.obj
	}
	return out
}

// applyResponse is what the FSM hands back through raft's ApplyFuture.
type applyResponse struct {
	result *Result
	err    error
}
