package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// writeFunc performs one acknowledged write of a new object called name:
// a ConfigMap create for skiff, a Put of the same bytes for etcd. It returns
// once the store has acknowledged it.
type writeFunc func(ctx context.Context, name string) error

// system is a 3-member store under test, seen only through what the
// measurements need, so that skiff and etcd go through the very same
// workload code.
type system interface {
	// writers returns n writers spread over the members (writer i talks to
	// member i%3), as n independent clients would be, and a func that
	// releases their connections.
	writers(n int) (ws []writeFunc, closeFn func(), err error)
	// watch starts a watch on a member that is not the leader and calls
	// onEvent with each new object's name as soon as its event arrives.
	watch(ctx context.Context, onEvent func(name string, at time.Time)) (stop func(), err error)
	// leader returns the index of the member that leads now.
	leader(ctx context.Context) (int, error)
	// seqWriter returns a single client that knows every member, member
	// first at the head of its list, as a long-lived client would be.
	seqWriter(first int) (w writeFunc, closeFn func(), err error)
	// kill SIGKILLs member i; restart starts it again on its old state.
	kill(i int)
	restart(ctx context.Context, i int) error
	// waitHealthy waits until all three members are up, agree on a leader
	// and have caught up.
	waitHealthy(ctx context.Context) error
	// close stops the cluster and frees its resources.
	close()
	// cpu returns the CPU time the members have used so far, together.
	cpu() time.Duration
}

// writeTimeout bounds one write of the throughput runs; nothing should come
// near it.
const writeTimeout = 10 * time.Second

// loadResult is what one closed-loop run measured.
type loadResult struct {
	clients int
	window  time.Duration // measured time, after the warm-up
	ops     int           // writes acknowledged within the window
	errors  int
	errMsgs []string        // a few distinct error messages
	lat     []time.Duration // sorted latencies of the window's writes
	// serverCPU and benchCPU are the CPU time the members and the load
	// generator used during the window.
	serverCPU, benchCPU time.Duration
}

// cpuPerWrite returns the members' and the load generator's CPU time per
// acknowledged write of the window.
func (r *loadResult) cpuPerWrite() (server, bench time.Duration) {
	if r.ops == 0 {
		return 0, 0
	}
	return r.serverCPU / time.Duration(r.ops), r.benchCPU / time.Duration(r.ops)
}

func (r *loadResult) perSec() float64 {
	if r.window <= 0 {
		return 0
	}
	return float64(r.ops) / r.window.Seconds()
}

func (r *loadResult) p(q float64) time.Duration { return percentile(r.lat, q) }

// percentile returns the nearest-rank q-quantile of sorted values.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// errorLog keeps counts and a few distinct messages of failed writes.
type errorLog struct {
	mu    sync.Mutex
	count int
	msgs  []string
}

func (e *errorLog) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count++
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if len(e.msgs) < 5 && !slices.Contains(e.msgs, msg) {
		e.msgs = append(e.msgs, msg)
	}
}

// runLoad runs one closed loop per writer: each writes new objects back to
// back for warmup+dur. Only writes started after the warm-up and
// acknowledged before the end count; the warm-up opens connections and lets
// the servers settle. onAck, when not nil, hears of every counted write the
// moment it is acknowledged (for the watch measurement). serverCPU, when not
// nil, reads the members' CPU time at the window's start and end.
func runLoad(ctx context.Context, writers []writeFunc, prefix string, warmup, dur time.Duration, onAck func(name string, at time.Time), serverCPU func() time.Duration) loadResult {
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(dur)
	cpuDone := make(chan [2]time.Duration, 1)
	go func() {
		if serverCPU == nil {
			cpuDone <- [2]time.Duration{}
			return
		}
		time.Sleep(time.Until(measureFrom))
		s0, b0 := serverCPU(), selfCPU()
		time.Sleep(time.Until(end))
		cpuDone <- [2]time.Duration{serverCPU() - s0, selfCPU() - b0}
	}()
	lats := make([][]time.Duration, len(writers))
	counted := make([]int, len(writers))
	var errs errorLog
	var wg sync.WaitGroup
	for i, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				name := fmt.Sprintf("%s-%d-%d", prefix, i, seq)
				wctx, cancel := context.WithTimeout(ctx, writeTimeout)
				err := w(wctx, name)
				cancel()
				t1 := time.Now()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					errs.add(err)
					time.Sleep(10 * time.Millisecond) // no hot loop against a failing server
					continue
				}
				if t0.Before(measureFrom) || t1.After(end) {
					continue
				}
				lats[i] = append(lats[i], t1.Sub(t0))
				counted[i]++
				if onAck != nil {
					onAck(name, t1)
				}
			}
		}()
	}
	wg.Wait()
	cpu := <-cpuDone
	res := loadResult{clients: len(writers), window: dur, errors: errs.count, errMsgs: errs.msgs, serverCPU: cpu[0], benchCPU: cpu[1]}
	for i := range writers {
		res.ops += counted[i]
		res.lat = append(res.lat, lats[i]...)
	}
	slices.Sort(res.lat)
	return res
}
