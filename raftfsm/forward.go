package raftfsm

import (
	"context"
	"sync"
)

// forwarder sends a follower's writes to the leader in batches: whatever
// commands wait while a batch is in flight go together in the next one, so
// that under load many writes share one request (and one Raft batch on the
// leader) while a lone write goes at once.
type forwarder struct {
	peers    Peers
	queue    chan *forwardReq
	started  sync.Once
	inflight int // concurrent batches
	maxBatch int
}

type forwardReq struct {
	ctx   context.Context
	addr  string
	cmd   []byte
	reply chan Outcome
}

func newForwarder(p Peers) *forwarder {
	return &forwarder{peers: p, queue: make(chan *forwardReq, 4096), inflight: 4, maxBatch: 256}
}

// apply forwards cmd to the leader at addr and returns its index.
func (f *forwarder) apply(ctx context.Context, addr string, cmd []byte) (uint64, error) {
	f.start()
	req := &forwardReq{ctx: ctx, addr: addr, cmd: cmd, reply: make(chan Outcome, 1)}
	select {
	case f.queue <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case out := <-req.reply:
		return out.Index, out.Err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// start runs the sending loops on first use: a leader never forwards.
func (f *forwarder) start() {
	f.started.Do(func() {
		for i := 0; i < f.inflight; i++ {
			go f.loop()
		}
	})
}

func (f *forwarder) loop() {
	for first := range f.queue {
		f.send(drain(first, f.queue, f.maxBatch))
	}
}

// send forwards one batch; requests for another leader address (leadership
// moved between them) go in their own request.
func (f *forwarder) send(batch []*forwardReq) {
	byAddr := map[string][]*forwardReq{}
	var order []string
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.reply <- Outcome{Err: r.ctx.Err()}
			continue
		}
		if _, ok := byAddr[r.addr]; !ok {
			order = append(order, r.addr)
		}
		byAddr[r.addr] = append(byAddr[r.addr], r)
	}
	for _, addr := range order {
		reqs := byAddr[addr]
		cmds := make([][]byte, len(reqs))
		for i, r := range reqs {
			cmds[i] = r.cmd
		}
		// The batch is not tied to any one caller's context: a caller
		// that gives up must not cancel the others' writes.
		ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
		outcomes, err := f.peers.ApplyBatch(ctx, addr, cmds)
		cancel()
		for i, r := range reqs {
			if err != nil {
				r.reply <- Outcome{Err: err}
			} else {
				r.reply <- outcomes[i]
			}
		}
	}
}
