package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiffhq/skiff/daemon"
)

// Hollow nodes: the real agent (daemon.RunAgent: join, certificate,
// registration, heartbeats, the pod informer, the sync loop, status
// reports) with the fake runtime and the fake pod network, many per
// process. Only the containers are missing; everything the masters see is
// what real nodes send.

type hollowConfig struct {
	nodes       int
	join, token string
	dir         string
	startAtOnce int
	usagePeriod time.Duration
}

// runHollow is `skiff-scalebench hollow ...`, the process the bench starts
// to hold the nodes.
func runHollow(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hollow", flag.ExitOnError)
	var cfg hollowConfig
	fs.IntVar(&cfg.nodes, "nodes", 1000, "nodes to run")
	fs.StringVar(&cfg.join, "join", "", "a master's API address")
	fs.StringVar(&cfg.token, "token", "", "a worker join token")
	fs.StringVar(&cfg.dir, "dir", "", "data directories go under here, one per node")
	fs.IntVar(&cfg.startAtOnce, "start-at-once", 25, "nodes joining at the same time")
	fs.DurationVar(&cfg.usagePeriod, "usage-period", 15*time.Second, "how often each node reports pod and node usage")
	_ = fs.Parse(args)
	if cfg.join == "" || cfg.token == "" || cfg.dir == "" {
		return fmt.Errorf("hollow: -join, -token and -dir are required")
	}
	logf, err := os.Create(filepath.Join(cfg.dir, "hollow-agents.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	// Warnings and errors only: 1,000 agents' info lines would cost more
	// than the agents.
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var ready atomic.Int64
	var failed atomic.Int64
	slots := make(chan struct{}, cfg.startAtOnce)
	var wg sync.WaitGroup
	for i := range cfg.nodes {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return nil
		}
		name := hollowName(i)
		out := &readyWriter{ready: make(chan struct{})}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := daemon.RunAgent(ctx, daemon.AgentConfig{
				DataDir: filepath.Join(cfg.dir, name), NodeName: name, Join: cfg.join, Token: cfg.token,
				Address: hollowAddress(i), Runtime: "fake", UsagePeriod: cfg.usagePeriod,
				Version: "hollow", Out: out, Logger: log,
			})
			if err != nil && ctx.Err() == nil {
				failed.Add(1)
				fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
				out.close()
			}
		}()
		go func() {
			<-out.ready
			ready.Add(1)
			<-slots
		}()
	}
	for ctx.Err() == nil && ready.Load()+failed.Load() < int64(cfg.nodes) {
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("hollow nodes: %d ready, %d failed\n", ready.Load(), failed.Load())
	<-ctx.Done()
	wg.Wait()
	return nil
}

func hollowName(i int) string { return fmt.Sprintf("hollow-%04d", i) }

// hollowAddress gives each node an address of its own on loopback
// (127.1.0.1, 127.1.0.2, ...): every node's endpoint listens on the
// agent's usual port, as on real hosts.
func hollowAddress(i int) string {
	return fmt.Sprintf("127.1.%d.%d:10250", i/250, i%250+1)
}

// readyWriter is an agent's console: it closes ready when the agent says
// it is ready.
type readyWriter struct {
	once  sync.Once
	ready chan struct{}
}

func (w *readyWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(": ready (pod CIDR")) {
		w.close()
	}
	return len(p), nil
}

func (w *readyWriter) close() { w.once.Do(func() { close(w.ready) }) }
