package daemon

import (
	"context"

	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/replicaset"
)

// runControllers runs the controllers while this master leads: built anew
// each term (queues and expectations must not outlive it) over the local
// state, writing through Raft.
func (m *masterProc) runControllers(ctx context.Context) {
	log := m.log.With("component", "controllers")
	infs := reconcile.NewInformers(m.store, m.reg, log)
	w := reconcile.NewStoreWriter(reconcile.StoreWriterConfig{Store: m.store, Registry: m.reg})
	rec := reconcile.NewStoreRecorder(reconcile.StoreRecorderConfig{Writer: w, Component: replicaset.Name, Instance: m.id, Logger: log})
	// Every controller asks its informers for what it needs before they run.
	rs := replicaset.New(replicaset.Config{ReplicaSets: infs.For("ReplicaSet"), Pods: infs.For("Pod"),
		Writer: w, Recorder: rec, Logger: log})
	if err := reconcile.RunAll(ctx, log,
		reconcile.Name("informers", infs),
		reconcile.Name(replicaset.Name, rs),
	); err != nil && ctx.Err() == nil {
		log.Warn("controllers stopped", "err", err)
	}
}
