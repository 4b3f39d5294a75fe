package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one server process of a cluster under test (a skiff master or an
// etcd member). Its output goes to a log file in its data directory, so a
// failure can show what the server said, and it can be killed and started
// again with the same arguments (failover trials).
type proc struct {
	name    string
	bin     string
	args    []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// procs records every process the bench starts, so that each one is killed
// on every way out: normal end, error, Ctrl-C. The machine is shared and
// must be left clean.
type procs struct {
	mu  sync.Mutex
	all []*proc
}

// start runs bin with args, appending its stdout and stderr to logPath.
func (ps *procs) start(name, logPath, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, bin: bin, args: args, logPath: logPath}
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
	return p, p.run()
}

func (p *proc) run() error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a Ctrl-C in the terminal reaches only the bench,
	// which then kills the servers itself (mid-run servers dying on their
	// own would look like failures). Pdeathsig is the fallback should the
	// bench itself be killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	return nil
}

// restart starts the process again, with args instead of the first run's
// arguments when given; it must have exited.
func (p *proc) restart(args ...string) error {
	if p.alive() {
		return fmt.Errorf("%s is still running", p.name)
	}
	if args != nil {
		p.args = args
	}
	return p.run()
}

// alive reports whether the process is running.
func (p *proc) alive() bool {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits until the process is gone. It is what the
// failover trials do to a leader, and what cleanup does to everything. (The
// servers start no children of their own; os.Process signals through a
// pidfd, so a reused PID is never hit.)
func (p *proc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	// With profiling on, stop gently first so the profile is written.
	if os.Getenv("SKIFF_BENCH_PROFILE") != "" {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			return
		case <-time.After(5 * time.Second):
		}
	}
	_ = cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	raw, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// killAll kills every process started so far.
func (ps *procs) killAll() {
	ps.mu.Lock()
	all := append([]*proc(nil), ps.all...)
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Add(1)
		go func() { defer wg.Done(); p.kill() }()
	}
	wg.Wait()
}

// printTails writes the end of every process's log to stderr (after a
// failure).
func (ps *procs) printTails(n int) {
	ps.mu.Lock()
	all := append([]*proc(nil), ps.all...)
	ps.mu.Unlock()
	for _, p := range all {
		fmt.Fprintf(os.Stderr, "--- last %d lines of the log of %s:\n%s\n", n, p.name, p.tail(n))
	}
}

// freePorts returns n distinct loopback addresses that nobody listened on a
// moment ago. All listeners stay open until every port is picked, so the
// kernel cannot hand out the same port twice.
func freePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	out := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// cpuTime returns the CPU time (user and system) the process has used so
// far, from /proc; zero when it is not running.
func (p *proc) cpuTime() time.Duration {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil || !p.alive() {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are plain. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(raw[i+1:]))
	if len(fields) < 13 {
		return 0
	}
	var utime, stime int64
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// totalCPU is the CPU time of the processes together; nil ones count 0.
func totalCPU(ps ...*proc) time.Duration {
	var sum time.Duration
	for _, p := range ps {
		if p != nil {
			sum += p.cpuTime()
		}
	}
	return sum
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux the bench runs on.
const clockTicks = 100

// selfCPU returns the CPU time the bench process itself has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
