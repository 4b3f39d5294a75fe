// Command skiff-scalebench measures the leader's brain at scale: one
// master, 1,000 hollow nodes (the real agent with the fake runtime, many
// per process) and one Deployment of 10,000 replicas. It reports how long
// until every pod is bound and until every pod reports Running, the pods
// bound per second, the API's latency for a get during the burst and the
// master's peak memory, next to the goals.
//
//	go run ./cmd/skiff-scalebench -skiff bin/skiff        (part of `make bench`)
//
// Everything runs on loopback; nothing stays behind. Progress goes to
// stderr, the table to stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type config struct {
	skiff       string
	nodes       int
	replicas    int
	usagePeriod time.Duration
	timeout     time.Duration
	keep        bool
	debugAddr   string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "hollow" {
		if err := runHollow(ctx, os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "skiff-scalebench:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	flag.StringVar(&cfg.skiff, "skiff", "bin/skiff", "skiff binary")
	flag.IntVar(&cfg.nodes, "nodes", 1000, "hollow nodes")
	flag.IntVar(&cfg.replicas, "replicas", 10000, "replicas of the Deployment")
	flag.DurationVar(&cfg.usagePeriod, "usage-period", 15*time.Second, "the nodes' usage report period (the agent's default)")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "give up when the pods are not all Running by then")
	flag.StringVar(&cfg.debugAddr, "debug-addr", "", "pass --debug-addr to the master (profiles while it runs)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the data directories and logs")
	flag.Parse()
	res, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "skiff-scalebench:", err)
		os.Exit(1)
	}
	printTable(os.Stdout, cfg, res)
}
