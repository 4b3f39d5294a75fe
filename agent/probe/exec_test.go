package probe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// execFunc adapts a function to Execer.
type execFunc func(ctx context.Context, cmd []string, timeout time.Duration) (int, []byte, error)

func (f execFunc) ExecSync(ctx context.Context, cmd []string, timeout time.Duration) (int, []byte, error) {
	return f(ctx, cmd, timeout)
}

func TestExecProbe(t *testing.T) {
	reply := func(code int, out string, err error) Execer {
		return execFunc(func(context.Context, []string, time.Duration) (int, []byte, error) {
			return code, []byte(out), err
		})
	}
	tests := []struct {
		name string
		ex   Execer
		cmd  []string
		want Result
		msg  string
	}{
		{name: "exit 0", ex: reply(0, "  all good\n", nil), cmd: []string{"true"}, want: Success, msg: "all good"},
		{name: "exit 1 with output", ex: reply(1, "boom\n", nil), cmd: []string{"false"}, want: Failure,
			msg: "command exited with code 1: boom"},
		{name: "exit 2 without output", ex: reply(2, "", nil), cmd: []string{"false"}, want: Failure,
			msg: "command exited with code 2"},
		{name: "timed out (runtime says so)", ex: reply(0, "", fmt.Errorf("exec: %w", context.DeadlineExceeded)),
			cmd: []string{"sleep"}, want: Failure, msg: "command timed out after 1s"},
		{name: "runtime error", ex: reply(0, "", errors.New("container not running")), cmd: []string{"x"},
			want: Unknown, msg: "exec probe: container not running"},
		{name: "no command", ex: reply(0, "", nil), want: Unknown, msg: "exec probe has no command"},
		{name: "no execer", ex: nil, cmd: []string{"x"}, want: Unknown, msg: "exec probe: no runtime to exec in the container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, msg := execProbe(context.Background(), tt.ex, tt.cmd, time.Second)
			if res != tt.want || msg != tt.msg {
				t.Fatalf("got %v %q, want %v %q", res, msg, tt.want, tt.msg)
			}
		})
	}
}

func TestExecProbePassesCommandAndDeadline(t *testing.T) {
	var gotCmd []string
	var gotTimeout time.Duration
	var hasDeadline bool
	ex := execFunc(func(ctx context.Context, cmd []string, timeout time.Duration) (int, []byte, error) {
		gotCmd, gotTimeout = cmd, timeout
		_, hasDeadline = ctx.Deadline()
		return 0, nil, nil
	})
	if res, _ := execProbe(context.Background(), ex, []string{"cat", "/tmp/healthy"}, 3*time.Second); res != Success {
		t.Fatalf("result %v, want success", res)
	}
	if !slices.Equal(gotCmd, []string{"cat", "/tmp/healthy"}) || gotTimeout != 3*time.Second || !hasDeadline {
		t.Fatalf("execer got cmd %q timeout %v deadline %v", gotCmd, gotTimeout, hasDeadline)
	}
}

func TestExecProbeTimesOutThroughContext(t *testing.T) {
	// An execer that only honours ctx still times out as a failure.
	ex := execFunc(func(ctx context.Context, _ []string, _ time.Duration) (int, []byte, error) {
		<-ctx.Done()
		return 0, nil, ctx.Err()
	})
	res, msg := execProbe(context.Background(), ex, []string{"sleep", "60"}, 50*time.Millisecond)
	if res != Failure || msg != "command timed out after 50ms" {
		t.Fatalf("got %v %q, want failure \"command timed out after 50ms\"", res, msg)
	}
}

func TestExecProbeCapsOutput(t *testing.T) {
	ex := execFunc(func(context.Context, []string, time.Duration) (int, []byte, error) {
		return 1, []byte(strings.Repeat("é", 20<<10)), nil // 2 bytes a rune
	})
	_, msg := execProbe(context.Background(), ex, []string{"x"}, time.Second)
	out := strings.TrimPrefix(msg, "command exited with code 1: ")
	if len(out) != maxOutput || out != strings.Repeat("é", maxOutput/2) {
		t.Fatalf("output of %d bytes, want %d bytes of é", len(out), maxOutput)
	}
}
