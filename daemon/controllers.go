package daemon

import (
	"context"

	"github.com/skiffhq/skiff/reconcile"
	"github.com/skiffhq/skiff/reconcile/deployment"
	"github.com/skiffhq/skiff/reconcile/disruption"
	"github.com/skiffhq/skiff/reconcile/endpoints"
	"github.com/skiffhq/skiff/reconcile/eventttl"
	"github.com/skiffhq/skiff/reconcile/gc"
	"github.com/skiffhq/skiff/reconcile/hpa"
	"github.com/skiffhq/skiff/reconcile/nodelifecycle"
	"github.com/skiffhq/skiff/reconcile/replicaset"
	"github.com/skiffhq/skiff/reconcile/volume"
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
	rs := replicaset.New(replicaset.Config{ReplicaSets: infs.For("ReplicaSet"), Pods: infs.For("Pod"), StatusBatch: replicaset.DefaultStatusBatch,
		Writer: w, Recorder: rec, Logger: log})
	deployRec := reconcile.NewStoreRecorder(reconcile.StoreRecorderConfig{Writer: w, Component: deployment.Name, Instance: m.id, Logger: log})
	deploy := deployment.New(deployment.Config{Deployments: infs.For("Deployment"), ReplicaSets: infs.For("ReplicaSet"),
		Pods: infs.For("Pod"), Writer: w, Recorder: deployRec, Logger: log})
	nodeRec := reconcile.NewStoreRecorder(reconcile.StoreRecorderConfig{Writer: w, Component: nodelifecycle.Name, Instance: m.id, Logger: log})
	nodes := nodelifecycle.New(nodelifecycle.Config{Nodes: infs.For("Node"), Pods: infs.For("Pod"), Writer: w,
		PodDeleter: nodelifecycle.StorePodDeleter{Store: m.store, Registry: m.reg}, Recorder: nodeRec,
		MonitorGrace: m.cfg.NodeMonitorGrace, PodEvictionTimeout: m.cfg.PodEvictionTimeout, Logger: log})
	eps := endpoints.New(endpoints.Config{Services: infs.For("Service"), Pods: infs.For("Pod"), Endpoints: infs.For("Endpoints"),
		Writer: w, Logger: log})
	hpaRec := reconcile.NewStoreRecorder(reconcile.StoreRecorderConfig{Writer: w, Component: hpa.Name, Instance: m.id, Logger: log})
	autoscalers := hpa.New(hpa.Config{Autoscalers: infs.For("HorizontalPodAutoscaler"), Deployments: infs.For("Deployment"),
		ReplicaSets: infs.For("ReplicaSet"), Pods: infs.For("Pod"), Metrics: hpaMetrics{m}, Writer: w, Recorder: hpaRec,
		SyncPeriod: m.cfg.HPASyncPeriod, Logger: log})
	volRec := reconcile.NewStoreRecorder(reconcile.StoreRecorderConfig{Writer: w, Component: volume.Name, Instance: m.id, Logger: log})
	volumes := volume.New(volume.Config{Claims: infs.For("PersistentVolumeClaim"), Volumes: infs.For("PersistentVolume"),
		Classes: infs.For("StorageClass"), Nodes: infs.For("Node"), Pods: infs.For("Pod"), Reader: m.store, Writer: w, Recorder: volRec,
		Logger: log})
	pdbRec := reconcile.NewStoreRecorder(reconcile.StoreRecorderConfig{Writer: w, Component: disruption.Name, Instance: m.id, Logger: log})
	budgets := disruption.New(disruption.Config{Budgets: infs.For("PodDisruptionBudget"), Pods: infs.For("Pod"), Writer: w,
		Recorder: pdbRec, Logger: log})
	events := eventttl.New(eventttl.Config{Events: infs.For("Event"), Writer: w, Logger: log})
	// Last: the collector shares the informers the others asked for and
	// watches the rest of its kinds (ConfigMaps, Secrets) as metadata.
	collector := gc.New(gc.Config{Informers: gc.Watch(infs, m.reg), Reader: m.store, Registry: m.reg, Writer: w, Logger: log})
	if err := reconcile.RunAll(ctx, log,
		reconcile.Name("informers", infs),
		reconcile.Name(replicaset.Name, rs),
		reconcile.Name(gc.Name, collector),
		reconcile.Name(nodelifecycle.Name, nodes),
		reconcile.Name(deployment.Name, deploy),
		reconcile.Name(eventttl.Name, events),
		reconcile.Name(endpoints.Name, eps),
		reconcile.Name(hpa.Name, autoscalers),
		reconcile.Name(volume.Name, volumes),
		reconcile.Name(disruption.Name, budgets),
	); err != nil && ctx.Err() == nil {
		log.Warn("controllers stopped", "err", err)
	}
}
