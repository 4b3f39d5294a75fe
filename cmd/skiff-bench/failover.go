package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// failoverWriteTimeout bounds each write of the failover writer: a
	// write stuck on a dead member or lost in the change of leader is given
	// up and sent again, as a client with a deadline would. It is far above
	// a write's normal latency, and it bounds how much a stuck write can add
	// to the figure.
	failoverWriteTimeout = 250 * time.Millisecond
	// failoverGiveUp ends a trial that has not recovered by then.
	failoverGiveUp = 20 * time.Second
	// failoverSteady is how long the writer runs before the kill.
	failoverSteady = time.Second
)

// failoverTrial is one SIGKILL of the leader.
type failoverTrial struct {
	took      time.Duration // SIGKILL -> first acknowledged write sent after it
	recovered bool          // false: no write succeeded within failoverGiveUp
	// loops is, for a system with leader-run controllers (skiff), the time
	// from the first write acknowledged by the new leader to a pod created
	// by a ReplicaSet written after it: how soon the new leader's
	// controllers act. Zero when not measured.
	loops  time.Duration
	errors errorLog // writes that failed around the kill
}

// measureFailover runs trials times: with one client writing sequentially
// (the leader first in its list of members), SIGKILL the leader and time
// until the first write sent after the kill is acknowledged. Only writes sent
// after the kill count, so a reply already on its way from the old leader
// cannot pass for recovery. The killed member is then restarted on its old
// state, so every trial starts from three healthy members.
func measureFailover(ctx context.Context, sys system, trials int, progress func(string)) ([]*failoverTrial, error) {
	var out []*failoverTrial
	for t := 1; t <= trials; t++ {
		if err := sys.waitHealthy(ctx); err != nil {
			return out, fmt.Errorf("before failover trial %d: %w", t, err)
		}
		leader, err := sys.leader(ctx)
		if err != nil {
			return out, err
		}
		progress(fmt.Sprintf("failover trial %d/%d: killing leader (member %d)", t, trials, leader+1))
		tr, err := failoverOnce(ctx, sys, leader, t)
		if tr != nil {
			out = append(out, tr)
			progress(fmt.Sprintf("failover trial %d/%d: %.2f s (recovered %v, %d writes failed meanwhile)", t, trials, tr.took.Seconds(), tr.recovered, tr.errors.count))
		}
		if err != nil {
			return out, err
		}
		if err := sys.restart(ctx, leader); err != nil {
			return out, fmt.Errorf("restarting member %d after failover trial %d: %w", leader+1, t, err)
		}
	}
	return out, sys.waitHealthy(ctx)
}

// controllerTimer is a system whose leader runs controllers.
type controllerTimer interface {
	// controllersAct creates a one-replica ReplicaSet through the members
	// other than dead and returns when its pod was first seen.
	controllersAct(ctx context.Context, dead int, name string) (time.Time, error)
}

func failoverOnce(ctx context.Context, sys system, leader, trial int) (*failoverTrial, error) {
	w, closeFn, err := sys.seqWriter(leader)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	tr := &failoverTrial{}
	var killedAt atomic.Int64 // unix nanos; 0 until the kill
	recovered := make(chan time.Time, 1)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := 0; wctx.Err() == nil; seq++ {
			t0 := time.Now()
			octx, cancel := context.WithTimeout(wctx, failoverWriteTimeout)
			err := w(octx, fmt.Sprintf("failover-%d-%d", trial, seq))
			cancel()
			t1 := time.Now()
			if wctx.Err() != nil {
				return
			}
			k := killedAt.Load()
			if err != nil {
				if k != 0 {
					tr.errors.add(err)
				}
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if k != 0 && t0.UnixNano() >= k {
				recovered <- t1
				return
			}
		}
	}()
	select {
	case <-time.After(failoverSteady):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	kill := time.Now()
	killedAt.Store(kill.UnixNano())
	sys.kill(leader)
	select {
	case at := <-recovered:
		tr.took, tr.recovered = at.Sub(kill), true
		if ct, ok := sys.(controllerTimer); ok {
			acted, err := ct.controllersAct(ctx, leader, fmt.Sprintf("failover-%d", trial))
			if err != nil {
				return tr, fmt.Errorf("failover trial %d: the new leader's controllers: %w", trial, err)
			}
			tr.loops = acted.Sub(at)
		}
	case <-time.After(failoverGiveUp):
		tr.took = failoverGiveUp
	case <-ctx.Done():
		stop()
		wg.Wait()
		return tr, ctx.Err()
	}
	stop()
	wg.Wait()
	return tr, nil
}
