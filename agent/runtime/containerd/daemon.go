package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultAddress is where a system containerd listens.
const DefaultAddress = "/run/containerd/containerd.sock"

// Reachable reports whether a containerd answers at the socket.
func Reachable(address string) bool {
	conn, err := net.DialTimeout("unix", address, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// DaemonConfig configures a containerd the agent runs itself.
type DaemonConfig struct {
	// Binary is the containerd executable; default "containerd" on PATH.
	Binary string
	// Dir holds config.toml, root/, state/, the socket and the log.
	Dir    string
	Logger *slog.Logger
}

// Daemon is a supervised containerd process.
type Daemon struct {
	cfg     DaemonConfig
	Address string
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
}

// StartDaemon starts containerd and keeps it running, restarting it (with
// backoff) when it dies, until ctx ends; then it stops it. Containers keep
// running through a containerd restart: their shims are separate processes.
func StartDaemon(ctx context.Context, cfg DaemonConfig) (*Daemon, error) {
	if cfg.Binary == "" {
		cfg.Binary = "containerd"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("no containerd is running and %q cannot be started: %w (apt-get install containerd, or pass --containerd-address)", cfg.Binary, err)
	}
	cfg.Binary = bin
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, Address: filepath.Join(cfg.Dir, "containerd.sock"), done: make(chan struct{})}
	if len(d.Address) > 100 {
		return nil, fmt.Errorf("containerd socket path %s is too long for a unix socket: use a shorter --data-dir", d.Address)
	}
	if err := os.WriteFile(d.configPath(), []byte(d.config()), 0o600); err != nil {
		return nil, err
	}
	// A containerd of an earlier run that died without stopping it: stop
	// it and start one this run supervises (containers live on).
	d.stopLeftover()
	if err := d.start(); err != nil {
		return nil, err
	}
	if err := d.waitReady(ctx, 20*time.Second); err != nil {
		d.stop()
		return nil, err
	}
	go d.supervise(ctx)
	return d, nil
}

func (d *Daemon) configPath() string { return filepath.Join(d.cfg.Dir, "config.toml") }

// config disables the CRI plugin (skiff is its own kubelet) and keeps every
// path under Dir.
func (d *Daemon) config() string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q
`, filepath.Join(d.cfg.Dir, "root"), filepath.Join(d.cfg.Dir, "state"), d.Address)
}

func (d *Daemon) start() error {
	logf, err := os.OpenFile(filepath.Join(d.cfg.Dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(d.cfg.Binary, "--config", d.configPath())
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C meant for the agent must not kill
	// containerd before the agent has decided to.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	_ = os.Remove(d.Address)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting containerd: %w", err)
	}
	logf.Close()
	d.mu.Lock()
	d.cmd = cmd
	d.mu.Unlock()
	return os.WriteFile(d.pidPath(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
}

func (d *Daemon) pidPath() string { return filepath.Join(d.cfg.Dir, "containerd.pid") }

// stopLeftover stops the containerd whose PID an earlier run recorded, if
// it still runs with this directory's config.
func (d *Daemon) stopLeftover() {
	raw, err := os.ReadFile(d.pidPath())
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), d.configPath()) {
		return // gone, or the PID now belongs to another process
	}
	d.cfg.Logger.Info("stopping the containerd an earlier run left", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if err := syscall.Kill(pid, 0); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func (d *Daemon) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !Reachable(d.Address) {
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd did not come up within %s (see %s)", limit, filepath.Join(d.cfg.Dir, "containerd.log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func (d *Daemon) supervise(ctx context.Context) {
	defer close(d.done)
	backoff := time.Second
	for {
		d.mu.Lock()
		cmd := d.cmd
		d.mu.Unlock()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-ctx.Done():
			d.stop()
			<-exited
			return
		case err := <-exited:
			d.cfg.Logger.Warn("containerd exited; restarting it", "err", err, "in", backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff < 30*time.Second {
			backoff *= 2
		}
		if err := d.start(); err != nil {
			d.cfg.Logger.Error("restarting containerd", "err", err)
			continue
		}
		if err := d.waitReady(ctx, 20*time.Second); err == nil {
			backoff = time.Second
		}
	}
}

func (d *Daemon) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
	}
}

// Kill kills the containerd process (tests of the supervision).
func (d *Daemon) Kill() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return errors.New("not started")
	}
	return d.cmd.Process.Kill()
}

// Done is closed once the daemon has been stopped for good.
func (d *Daemon) Done() <-chan struct{} { return d.done }
