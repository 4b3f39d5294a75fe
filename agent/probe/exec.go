package probe

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Execer runs a command inside one container and waits for it; the
// container runtime provides it.
//
// ExecSync returns the command's exit code and its combined output. An
// error means the command could not be run or did not finish; a command
// that ran past timeout is reported as an error that errors.Is
// context.DeadlineExceeded (ctx also carries that deadline).
type Execer interface {
	ExecSync(ctx context.Context, cmd []string, timeout time.Duration) (exitCode int, output []byte, err error)
}

// execProbe runs cmd through ex: exit 0 is Success, another exit code is
// Failure with the output, running past timeout is Failure ("command timed
// out"), and a runtime error is Unknown, since it says nothing about the
// container's health.
func execProbe(ctx context.Context, ex Execer, cmd []string, timeout time.Duration) (Result, string) {
	if len(cmd) == 0 {
		return Unknown, "exec probe has no command"
	}
	if ex == nil {
		return Unknown, "exec probe: no runtime to exec in the container"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, out, err := ex.ExecSync(ctx, cmd, timeout)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Failure, fmt.Sprintf("command timed out after %s", timeout)
	case err != nil:
		return Unknown, fmt.Sprintf("exec probe: %v", err)
	case code != 0:
		msg := fmt.Sprintf("command exited with code %d", code)
		if o := capOutput(out); o != "" {
			msg += ": " + o
		}
		return Failure, msg
	}
	return Success, capOutput(out)
}
