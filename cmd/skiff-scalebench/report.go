package main

import (
	"fmt"
	"io"
	"time"

	"github.com/skiffhq/skiff/cmd/internal/benchkit"
)

func printTable(w io.Writer, cfg config, r *result) {
	rate := func(d time.Duration) float64 { return float64(cfg.replicas) / d.Seconds() }
	p := func(q int) time.Duration {
		if len(r.getLatencies) == 0 {
			return 0
		}
		return r.getLatencies[min(len(r.getLatencies)-1, len(r.getLatencies)*q/100)]
	}
	nodesOn := "the master's disk"
	if r.nodesOnTmpfs {
		nodesOn = "tmpfs"
	}
	fmt.Fprintf(w, "\nskiff at scale: 1 master, %d hollow nodes (real agent, fake runtime, one process; their data on %s, the master's on disk), a Deployment of %d replicas (%d CPUs shared by all)\n\n",
		cfg.nodes, nodesOn, cfg.replicas, r.cpus)
	fmt.Fprintf(w, "%-52s %-12s %-22s %s\n", "figure", "goal", "skiff", "comparison (published, not run here)")
	row := func(figure, goal, value, cmp string) {
		fmt.Fprintf(w, "%-52s %-12s %-22s %s\n", figure, goal, value, cmp)
	}
	row(fmt.Sprintf("%d nodes joined and Ready", cfg.nodes), "", r.registerNodes.Round(100*time.Millisecond).String(), "")
	row("Deployment created -> first pod bound", "", benchkit.Ms(r.firstBound), "")
	row(fmt.Sprintf("Deployment created -> all %d pods created", cfg.replicas), "", r.allCreated.Round(100*time.Millisecond).String(), "")
	row(fmt.Sprintf("Deployment created -> all %d pods bound", cfg.replicas), "", r.allBound.Round(100*time.Millisecond).String(), "")
	row("pods bound per second (all pods / time to bind all)", ">= 1000",
		fmt.Sprintf("%.0f %s", rate(r.allBound), benchkit.Met(rate(r.allBound) >= 1000)),
		"kube-scheduler threshold 680/s (5k nodes); Nomad C1M ~3,750/s")
	row(fmt.Sprintf("Deployment created -> all %d pods Running", cfg.replicas), "", r.allRunning.Round(100*time.Millisecond).String(), "")
	row("pods Running per second", "", fmt.Sprintf("%.0f", rate(r.allRunning)), "")
	row("store writes (Raft entries) during the burst, per pod", "", fmt.Sprintf("%.1f", float64(r.writes)/float64(cfg.replicas)), "")
	row("CPU used during the burst: master / hollow nodes", "", fmt.Sprintf("%.0fs / %.0fs", r.masterCPU.Seconds(), r.hollowCPU.Seconds()), "")
	row(fmt.Sprintf("API get during the burst, p50 (%d gets)", len(r.getLatencies)), "", benchkit.Ms(p(50)), "")
	row("API get during the burst, p99", "< 100 ms", benchkit.Ms(p(99))+" "+benchkit.Met(p(99) < 100*time.Millisecond),
		"Kubernetes SLO: 1 s")
	if r.getErrors > 0 {
		row("API gets that failed", "0", fmt.Sprint(r.getErrors), "")
	}
	row("master peak RSS during the burst", "< 1 GiB", benchkit.MiB(r.masterPeakRSS)+" "+benchkit.Met(r.masterPeakRSS < 1<<30), "")
	row(fmt.Sprintf("master RSS with %d pods Running", cfg.replicas), "", benchkit.MiB(r.masterRSSAfter), "")
	if r.deleteErr != nil {
		row("Deployment deleted -> no pod left", "", "failed: "+r.deleteErr.Error(), "")
	} else {
		row("Deployment deleted -> no pod left", "", r.deleteAll.Round(100*time.Millisecond).String(), "")
	}
	fmt.Fprintln(w)
}
