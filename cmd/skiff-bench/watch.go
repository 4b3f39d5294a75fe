package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// watchClients is the steady write load the watch delivery is measured
// under.
const watchClients = 16

// watchResult is the delivery latency of watch events: for each object,
// the time its event reached a watcher on a non-leader member minus the
// time its writer got the acknowledgement.
type watchResult struct {
	load   loadResult      // the write load that ran meanwhile
	lat    []time.Duration // sorted; an event that beat the ack counts as 0
	early  int             // events that arrived before their write's ack
	missed int             // acknowledged writes whose event never came
}

// measureWatch runs watchClients writers for warmup+dur while a watcher on
// a follower records when each object's event arrives.
func measureWatch(ctx context.Context, sys system, warmup, dur time.Duration) (watchResult, error) {
	var mu sync.Mutex
	recv := map[string]time.Time{}
	acked := map[string]time.Time{}
	stop, err := sys.watch(ctx, func(name string, at time.Time) {
		mu.Lock()
		if _, dup := recv[name]; !dup {
			recv[name] = at
		}
		mu.Unlock()
	})
	if err != nil {
		return watchResult{}, fmt.Errorf("starting the watch: %w", err)
	}
	defer stop()
	writers, closeWriters, err := sys.writers(watchClients)
	if err != nil {
		return watchResult{}, err
	}
	defer closeWriters()
	load := runLoad(ctx, writers, "watch", warmup, dur, func(name string, at time.Time) {
		mu.Lock()
		acked[name] = at
		mu.Unlock()
	}, nil)
	// Let the last events arrive.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		mu.Lock()
		pending := 0
		for name := range acked {
			if _, ok := recv[name]; !ok {
				pending++
			}
		}
		mu.Unlock()
		if pending == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	res := watchResult{load: load}
	mu.Lock()
	defer mu.Unlock()
	for name, ack := range acked {
		at, ok := recv[name]
		if !ok {
			res.missed++
			continue
		}
		d := at.Sub(ack)
		if d < 0 {
			res.early++
			d = 0
		}
		res.lat = append(res.lat, d)
	}
	slices.Sort(res.lat)
	return res, ctx.Err()
}
