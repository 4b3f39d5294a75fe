package raftfsm

// Result is what applying a command returns: the objects it wrote, in the
// order of its operations (for a deletion, the object as it was).
type Result struct {
	Index   uint64
	Records []*record
}

// applyResponse is what the FSM hands back through raft's ApplyFuture.
type applyResponse struct {
	result *Result
	err    error
}
