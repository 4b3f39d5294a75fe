package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// errRuntime is what scriptExecer returns for a scripted runtimeError.
var errRuntime = errors.New("runtime unavailable")

// Exit codes a scriptExecer script may hold besides real ones.
const (
	runtimeError = -1 // ExecSync fails: the probe gives Unknown
	hang         = -2 // ExecSync waits for ctx or release, then claims exit 1
)

// scriptExecer is an Execer whose commands answer from scripts: each call
// of a command (cmd[0]) takes the next exit code of its script, the last
// repeating. Output is "<cmd> #<call>". It records calls and whether any
// command ever ran twice at once.
type scriptExecer struct {
	id string

	mu       sync.Mutex
	scripts  map[string][]int
	calls    map[string]int
	inflight map[string]int
	overlap  bool
	started  chan string   // if set, receives cmd[0] as each call begins
	release  chan struct{} // closing it ends hanging calls
}

func newScriptExecer(id string, scripts map[string][]int) *scriptExecer {
	cp := make(map[string][]int, len(scripts))
	for k, v := range scripts {
		cp[k] = append([]int(nil), v...)
	}
	return &scriptExecer{id: id, scripts: cp, calls: map[string]int{}, inflight: map[string]int{}}
}

func (e *scriptExecer) ExecSync(ctx context.Context, cmd []string, _ time.Duration) (int, []byte, error) {
	name := cmd[0]
	e.mu.Lock()
	e.calls[name]++
	n := e.calls[name]
	e.inflight[name]++
	if e.inflight[name] > 1 {
		e.overlap = true
	}
	script := e.scripts[name]
	code := 0
	if len(script) > 0 {
		code = script[0]
		if len(script) > 1 {
			e.scripts[name] = script[1:]
		}
	}
	started, release := e.started, e.release
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.inflight[name]--
		e.mu.Unlock()
	}()
	if started != nil {
		started <- name
	}
	out := []byte(fmt.Sprintf("%s #%d\n", name, n))
	switch code {
	case runtimeError:
		return 0, nil, errRuntime
	case hang:
		select {
		case <-ctx.Done():
		case <-release:
		}
		return 1, out, nil
	}
	return code, out, nil
}

func (e *scriptExecer) callCount(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[name]
}

func (e *scriptExecer) overlapped() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.overlap
}

// execProbeSpec is an exec probe running cmd, with fields set by mod.
func execProbeSpec(cmd string, mod func(*corev1.Probe)) *corev1.Probe {
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}}}
	if mod != nil {
		mod(p)
	}
	return p
}

// updateLog collects updates from any goroutine.
type updateLog struct {
	mu      sync.Mutex
	updates []Update
}

func (l *updateLog) add(u Update) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.updates = append(l.updates, u)
}

func (l *updateLog) all() []Update {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Update(nil), l.updates...)
}

// waitFor polls cond (real time, briefly) until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitWaiters waits until exactly n timers wait on the fake clock: every
// worker has finished its probe and reported, and sleeps until its next.
func waitWaiters(t *testing.T, fc *clocktesting.FakeClock, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d clock waiters", n), func() bool { return fc.Waiters() == n })
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// t0 is the fake clock's start.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
