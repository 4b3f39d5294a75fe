package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// sysResult is everything measured on one system; a phase that failed
// leaves its figures out and says why in err.
type sysResult struct {
	name     string
	ran      bool
	loads    map[int]*loadResult
	watch    *watchResult
	failover []*failoverTrial
	err      error
	phases   []string // "start 4.1s", ... for the notes
	elapsed  time.Duration
}

// Goals of the issue, for skiff on this 2-core machine.
const (
	goalP99At16  = 50 * time.Millisecond
	goalWatchP99 = 20 * time.Millisecond
	goalFailover = 2 * time.Second
	// goalLoops: a new leader's scheduler and controllers work within 2 s
	// of its election.
	goalLoops     = 2 * time.Second
	goalRateAt    = 128 // creates/s at this many clients at least etcd's
	goalLatencyAt = 16
)

// row is one line of the table; a nil value was not measured.
type row struct {
	figure string
	goal   string
	skiff  *float64
	etcd   *float64
	format func(float64) string
	// skiffNote is appended to skiff's cell (errors seen), etcdNote to etcd's.
	skiffNote, etcdNote string
	// ratio, when set, is the skiff/etcd column instead of skiff / etcd.
	ratio *float64
}

func fnum(prec int) func(float64) string {
	return func(v float64) string { return fmt.Sprintf("%.*f", prec, v) }
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func ptr(v float64) *float64 { return &v }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func errNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d err)", n)
}

// rows builds the table from both systems' results.
func rows(sk, et *sysResult, skRuns, etRuns []*sysResult, clients []int, trials int) []row {
	var out []row
	load := func(r *sysResult, c int) *loadResult {
		if r == nil || r.loads == nil {
			return nil
		}
		return r.loads[c]
	}
	for _, c := range clients {
		s, e := load(sk, c), load(et, c)
		r := row{figure: fmt.Sprintf("creates/s @%d", c), format: fnum(0)}
		if s != nil {
			r.skiff, r.skiffNote = ptr(s.perSec()), errNote(s.errors)
		}
		if e != nil {
			r.etcd, r.etcdNote = ptr(e.perSec()), errNote(e.errors)
		}
		// Runs of the two systems taking turns are compared in pairs:
		// the machine's speed drifts less within a pair than across runs.
		if q, ok := medianPairedRatio(skRuns, etRuns, c); ok {
			r.ratio = ptr(q)
		}
		if c == goalRateAt {
			switch {
			case r.ratio != nil:
				r.goal = "≥ etcd: " + met(*r.ratio >= 1)
			default:
				r.goal = "≥ etcd: n/a"
			}
		}
		out = append(out, r)
	}
	for _, c := range clients {
		for _, q := range []float64{0.50, 0.99} {
			s, e := load(sk, c), load(et, c)
			r := row{figure: fmt.Sprintf("p%.0f ms @%d", q*100, c), format: fnum(1)}
			if s != nil && len(s.lat) > 0 {
				r.skiff = ptr(ms(s.p(q)))
			}
			if e != nil && len(e.lat) > 0 {
				r.etcd = ptr(ms(e.p(q)))
			}
			if c == goalLatencyAt && q == 0.99 {
				r.goal = fmt.Sprintf("< %.0f: ", ms(goalP99At16))
				if r.skiff != nil {
					r.goal += met(*r.skiff < ms(goalP99At16))
				} else {
					r.goal += "n/a"
				}
			}
			out = append(out, r)
		}
	}
	// CPU per write at the throughput goal's client count: on a shared
	// 2-core machine it is what the rate comes down to, and it varies less
	// between runs than the rate does.
	for i, who := range []string{"members", "load generator"} {
		s, e := load(sk, goalRateAt), load(et, goalRateAt)
		r := row{figure: fmt.Sprintf("%s CPU µs/write @%d", who, goalRateAt), format: fnum(0)}
		pick := func(l *loadResult) *float64 {
			srv, gen := l.cpuPerWrite()
			if l.ops == 0 || srv == 0 {
				return nil
			}
			return ptr(us([]time.Duration{srv, gen}[i]))
		}
		if s != nil {
			r.skiff = pick(s)
		}
		if e != nil {
			r.etcd = pick(e)
		}
		if r.skiff != nil || r.etcd != nil {
			out = append(out, r)
		}
	}
	for _, q := range []float64{0.50, 0.99} {
		r := row{figure: fmt.Sprintf("watch p%.0f ms", q*100), format: fnum(1)}
		if sk != nil && sk.watch != nil && len(sk.watch.lat) > 0 {
			r.skiff = ptr(ms(percentile(sk.watch.lat, q)))
			r.skiffNote = lostNote(sk.watch.missed)
		}
		if et != nil && et.watch != nil && len(et.watch.lat) > 0 {
			r.etcd = ptr(ms(percentile(et.watch.lat, q)))
			r.etcdNote = lostNote(et.watch.missed)
		}
		if q == 0.99 {
			r.goal = fmt.Sprintf("< %.0f: ", ms(goalWatchP99))
			if r.skiff != nil {
				r.goal += met(*r.skiff < ms(goalWatchP99) && sk.watch.missed == 0)
			} else {
				r.goal += "n/a"
			}
		}
		out = append(out, r)
	}
	r := row{figure: fmt.Sprintf("failover s (worst of %d)", trials), format: fnum(2)}
	var skOK bool
	if sk != nil && len(sk.failover) > 0 {
		w, ok := worst(sk.failover)
		r.skiff, skOK = ptr(w.Seconds()), ok
		if !ok {
			r.skiffNote = " (no recovery)"
		}
	}
	if et != nil && len(et.failover) > 0 {
		w, ok := worst(et.failover)
		r.etcd = ptr(w.Seconds())
		if !ok {
			r.etcdNote = " (no recovery)"
		}
	}
	r.goal = fmt.Sprintf("< %.0f: ", goalFailover.Seconds())
	if r.skiff != nil {
		r.goal += met(skOK && *r.skiff < goalFailover.Seconds())
	} else {
		r.goal += "n/a"
	}
	out = append(out, r)
	if sk != nil && len(sk.failover) > 0 {
		var w time.Duration
		for _, t := range sk.failover {
			w = max(w, t.loops)
		}
		out = append(out, row{figure: "new leader -> controllers acting s (worst)", format: fnum(2), skiff: ptr(w.Seconds()),
			goal: fmt.Sprintf("< %.0f: %s", goalLoops.Seconds(), met(w < goalLoops))})
	}
	return out
}

func lostNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d lost)", n)
}

// worst returns the longest trial and whether every trial recovered.
func worst(trials []*failoverTrial) (time.Duration, bool) {
	var w time.Duration
	ok := true
	for _, t := range trials {
		w = max(w, t.took)
		ok = ok && t.recovered
	}
	return w, ok
}

// printTable writes the rows as a Markdown table with aligned columns.
func printTable(w io.Writer, rs []row) {
	cells := [][]string{{"figure", "goal", "skiff", "etcd", "skiff/etcd"}}
	for _, r := range rs {
		s, e, ratio := "—", "—", "—"
		if r.skiff != nil {
			s = r.format(*r.skiff) + r.skiffNote
		}
		if r.etcd != nil {
			e = r.format(*r.etcd) + r.etcdNote
		}
		switch {
		case r.ratio != nil:
			ratio = fmt.Sprintf("%.2f", *r.ratio)
		case r.skiff != nil && r.etcd != nil && *r.etcd != 0:
			ratio = fmt.Sprintf("%.2f", *r.skiff / *r.etcd)
		}
		goal := r.goal
		if goal == "" {
			goal = "—"
		}
		cells = append(cells, []string{r.figure, goal, s, e, ratio})
	}
	widths := make([]int, 5)
	for _, c := range cells {
		for i, s := range c {
			widths[i] = max(widths[i], len([]rune(s)))
		}
	}
	line := func(c []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, s := range c {
			pad := widths[i] - len([]rune(s))
			if i >= 2 { // numbers right-aligned
				fmt.Fprintf(&b, " %s%s |", strings.Repeat(" ", pad), s)
			} else {
				fmt.Fprintf(&b, " %s%s |", s, strings.Repeat(" ", pad))
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(cells[0])
	sep := make([]string, 5)
	for i := range sep {
		sep[i] = strings.Repeat("-", widths[i])
		if i >= 2 {
			sep[i] = strings.Repeat("-", widths[i]-1) + ":"
		}
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
}

// printNotes explains how each figure was taken and lists what went wrong.
func printNotes(w io.Writer, cfg *config, skRuns, etRuns []*sysResult, valueBytes, bodyBytes int) {
	fmt.Fprintln(w, "\nnotes:")
	fmt.Fprintf(w, "- creates: C closed-loop clients for %s each after a %s warm-up; a write counts when sent after the warm-up and acknowledged before the end.\n", cfg.duration, cfg.warmup)
	fmt.Fprintf(w, "  Each system ran %d times on a new cluster, the two taking turns (skiff run i, then etcd run i); creates/s and CPU µs/write are the median run's, the latencies those of all runs together. The creates/s ratio is the median of the rounds' ratios (skiff run i / etcd run i): this shared machine's speed drifts by tens of percent over minutes, less within a round.\n", cfg.runs)
	for _, c := range cfg.clients {
		sr, sRuns := medianRate(skRuns, c)
		er, eRuns := medianRate(etRuns, c)
		if sr > 0 || er > 0 {
			fmt.Fprintf(w, "  creates/s @%d per run: skiff %s; etcd %s%s\n", c, orDash(sRuns), orDash(eRuns), roundRatios(skRuns, etRuns, c))
		}
	}
	fmt.Fprintf(w, "  skiff: POST of a ConfigMap (one 1 KiB data value; %d-byte request body) in namespace default through apis/client's CreateOnly (requests over HTTP/1.1 keep-alive, as apis/client sends them; the stored object the server answers with is read but not decoded, as a Put's answer has none), client i talking only to master i%%3, so 2/3 of the writes reach a follower and are forwarded to the leader.\n", bodyBytes)
	fmt.Fprintf(w, "  etcd: Put of the JSON of the same ConfigMap as skiff stores it (uid, resourceVersion, creationTimestamp filled in: %d bytes) under %sNAME with clientv3, client i talking only to member i%%3.\n", valueBytes, etcdPrefix)
	fmt.Fprintf(w, "- CPU µs/write: user+system CPU time over the measured window (members: /proc/PID/stat of the three servers together; load generator: this process), divided by the writes counted.\n")
	fmt.Fprintf(w, "- watch: %d writers as above for %s; a watch on a non-leader member; latency = event received - write acknowledged, per object (an event that beat the ack counts as 0).\n", watchClients, cfg.duration)
	fmt.Fprintf(w, "- failover: one client listing all members (the leader first) writes sequentially, each write with a %s timeout and retried at once; SIGKILL of the leader -> acknowledgement of the first write sent after the kill. The killed member is restarted between trials.\n", failoverWriteTimeout)
	fmt.Fprintln(w, "  new leader -> controllers acting (skiff only): from that first acknowledged write, a ReplicaSet of one replica is created and its pod listed every 10 ms; the ReplicaSet controller runs only on the leader, so the pod shows its loops have started.")
	if cfg.insecure {
		fmt.Fprintln(w, "- security off (-insecure): skiff with --insecure-bench-only (plain HTTP and Raft, no authentication, authorization or audit log), etcd on plain HTTP.")
	} else {
		fmt.Fprintln(w, "- security on, as deployed: skiff's mutual TLS 1.3 with its own CA, authentication, RBAC and audit log; etcd with mutual TLS on client and peer URLs (a CA made by the bench). -insecure compares both without.")
	}
	fmt.Fprintln(w, "- skiff and etcd ran one after the other (never at once) with their default settings: skiff raft heartbeat/election 500 ms; etcd heartbeat 100 ms, election 1000 ms. Both fsync their logs to the same disk. The load generator shares the 2 cores with the servers (it runs with GOGC=400 to take less of them).")
	for _, r := range append(append([]*sysResult{}, skRuns...), etRuns...) {
		if r == nil || !r.ran {
			continue
		}
		fmt.Fprintf(w, "- %s phases: %s; total %s.\n", r.name, strings.Join(r.phases, ", "), r.elapsed.Round(100*time.Millisecond))
		for _, c := range cfg.clients {
			if l := r.loads[c]; l != nil && l.errors > 0 {
				fmt.Fprintf(w, "  %d clients: %d failed writes: %s\n", c, l.errors, strings.Join(l.errMsgs, " | "))
			}
		}
		if r.watch != nil {
			fmt.Fprintf(w, "  watch: %d events matched, %d arrived before the ack, %d never arrived; writers %.0f writes/s", len(r.watch.lat), r.watch.early, r.watch.missed, r.watch.load.perSec())
			if r.watch.load.errors > 0 {
				fmt.Fprintf(w, ", %d failed: %s", r.watch.load.errors, strings.Join(r.watch.load.errMsgs, " | "))
			}
			fmt.Fprintln(w)
		}
		if len(r.failover) > 0 {
			var ts []string
			for _, t := range r.failover {
				s := fmt.Sprintf("%.2fs", t.took.Seconds())
				if !t.recovered {
					s = "no recovery in " + s
				}
				ts = append(ts, s)
			}
			fmt.Fprintf(w, "  failover trials: %s", strings.Join(ts, ", "))
			var msgs []string
			n := 0
			for _, t := range r.failover {
				n += t.errors.count
				for _, m := range t.errors.msgs {
					if !slices.Contains(msgs, m) {
						msgs = append(msgs, m)
					}
				}
			}
			if n > 0 {
				fmt.Fprintf(w, "; %d writes failed meanwhile: %s", n, strings.Join(msgs, " | "))
			}
			fmt.Fprintln(w)
		}
		if r.err != nil {
			fmt.Fprintf(w, "  FAILED: %v\n", r.err)
		}
	}
}

// printSecurityCost sets the creates with security on (as deployed) next to
// the same creates against skiff started with --insecure-bench-only.
func printSecurityCost(w io.Writer, secure, plain []*sysResult, clients []int) {
	fmt.Fprintf(w, "what security costs (skiff alone): creates/s with mutual TLS, authentication, RBAC and audit vs. plain HTTP without them; medians of %d and %d runs, taken in turns\n", len(secure), len(plain))
	cells := [][]string{{"clients", "goal", "TLS + auth", "plain", "cost", "runs TLS / plain"}}
	for _, c := range clients {
		s, sRuns := medianRate(secure, c)
		p, pRuns := medianRate(plain, c)
		if s == 0 || p == 0 {
			continue
		}
		cost := 1 - s/p
		verdict := "met"
		if cost >= 0.20 {
			verdict = "MISSED"
		}
		cells = append(cells, []string{fmt.Sprint(c), "< 20%: " + verdict,
			fmt.Sprintf("%.0f", s), fmt.Sprintf("%.0f", p), fmt.Sprintf("%.0f%%", 100*cost), sRuns + " / " + pRuns})
	}
	widths := make([]int, 6)
	for _, c := range cells {
		for i, s := range c {
			widths[i] = max(widths[i], len([]rune(s)))
		}
	}
	for n, c := range cells {
		var b strings.Builder
		b.WriteString("|")
		for i, s := range c {
			fmt.Fprintf(&b, " %s%s |", strings.Repeat(" ", widths[i]-len([]rune(s))), s)
		}
		fmt.Fprintln(w, b.String())
		if n == 0 {
			b.Reset()
			b.WriteString("|")
			for i := range c {
				fmt.Fprintf(&b, " %s:|", strings.Repeat("-", widths[i]))
			}
			fmt.Fprintln(w, b.String())
		}
	}
}

// medianRate is the median creates/s at c clients over runs, and the runs'
// figures for the record.
// roundRatios lists each round's skiff/etcd creates/s, for the notes.
func roundRatios(skRuns, etRuns []*sysResult, c int) string {
	var parts []string
	for i := range min(len(skRuns), len(etRuns)) {
		s, e := skRuns[i], etRuns[i]
		if s == nil || e == nil || s.loads[c] == nil || e.loads[c] == nil || e.loads[c].perSec() == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%.2f", s.loads[c].perSec()/e.loads[c].perSec()))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; ratio per round " + strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// runName names run i of a system: the first keeps the system's name.
func runName(system string, i int) string {
	if i == 0 {
		return system
	}
	return fmt.Sprintf("%s-%d", system, i+1)
}

// combineRuns makes one result of a system's runs for the table: the
// first run's watch and failover figures and, per client count, the
// creates of the run with the median rate (its rate and CPU per write)
// with the latencies and errors of every run.
func combineRuns(runs []*sysResult, clients []int) *sysResult {
	if len(runs) == 0 {
		return nil
	}
	out := *runs[0]
	out.loads = map[int]*loadResult{}
	for _, c := range clients {
		var ls []*loadResult
		for _, r := range runs {
			if r != nil && r.loads[c] != nil {
				ls = append(ls, r.loads[c])
			}
		}
		if len(ls) == 0 {
			continue
		}
		sort.Slice(ls, func(i, j int) bool { return ls[i].perSec() < ls[j].perSec() })
		m := *ls[len(ls)/2]
		m.lat, m.errors, m.errMsgs = nil, 0, nil
		for _, l := range ls {
			m.lat = append(m.lat, l.lat...)
			m.errors += l.errors
			for _, msg := range l.errMsgs {
				if len(m.errMsgs) < 5 && !slices.Contains(m.errMsgs, msg) {
					m.errMsgs = append(m.errMsgs, msg)
				}
			}
		}
		slices.Sort(m.lat)
		out.loads[c] = &m
	}
	return &out
}

// medianPairedRatio is the median over rounds of skiff's creates/s over
// etcd's in the same round (run i of each); false when no round has both.
func medianPairedRatio(skRuns, etRuns []*sysResult, c int) (float64, bool) {
	var qs []float64
	for i := range min(len(skRuns), len(etRuns)) {
		s, e := skRuns[i], etRuns[i]
		if s == nil || e == nil || s.loads[c] == nil || e.loads[c] == nil || e.loads[c].perSec() == 0 {
			continue
		}
		qs = append(qs, s.loads[c].perSec()/e.loads[c].perSec())
	}
	if len(qs) == 0 {
		return 0, false
	}
	sort.Float64s(qs)
	if len(qs)%2 == 0 {
		return (qs[len(qs)/2-1] + qs[len(qs)/2]) / 2, true
	}
	return qs[len(qs)/2], true
}

func medianRate(runs []*sysResult, c int) (float64, string) {
	var rates []float64
	for _, r := range runs {
		if r == nil || r.loads[c] == nil {
			continue
		}
		rates = append(rates, r.loads[c].perSec())
	}
	if len(rates) == 0 {
		return 0, ""
	}
	var parts []string
	for _, v := range rates {
		parts = append(parts, fmt.Sprintf("%.0f", v))
	}
	sort.Float64s(rates)
	m := rates[len(rates)/2]
	if len(rates)%2 == 0 {
		m = (rates[len(rates)/2-1] + rates[len(rates)/2]) / 2
	}
	return m, strings.Join(parts, ",")
}
