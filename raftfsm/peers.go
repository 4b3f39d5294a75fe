package raftfsm

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/apis/skiffv1"
)

// Peers is how a master talks to the others: forwarding commands and
// read-index requests to the leader, and asking any master for its status.
// The HTTP implementation is in peerhttp.go.
type Peers interface {
	// ApplyBatch has the leader apply commands, in order, and returns
	// each one's outcome; the sender reads what a command wrote from its
	// own state once it has applied that index. An error means none of
	// the batch was applied.
	ApplyBatch(ctx context.Context, apiAddr string, cmds [][]byte) ([]Outcome, error)
	ReadIndex(ctx context.Context, apiAddr string) (uint64, error)
	Status(ctx context.Context, apiAddr string) (*skiffv1.MemberStatus, error)
}

// UnreachableError says a peer could not be reached before the request was
// sent, so retrying elsewhere cannot apply anything twice.
type UnreachableError struct {
	Addr string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("master %s unreachable: %v", e.Addr, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// Outcome is what became of one forwarded command.
type Outcome struct {
	Index uint64
	Err   error
}
