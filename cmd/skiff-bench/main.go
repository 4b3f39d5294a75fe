// Command skiff-bench measures a 3-master skiff cluster and, for
// comparison, a 3-member etcd cluster, both on loopback on this machine, and
// prints one table with the two side by side and the goals skiff has to
// meet: creates/s and p50/p99 latency at 1, 16 and 128 clients, watch
// delivery latency, and leader failover time.
//
// The two clusters run one after the other, never at once, so that neither
// takes CPU from the other; the same workload code drives both. Every
// process the bench starts is killed and every directory it made is removed
// when it ends, also on error or Ctrl-C.
//
//	go run ./cmd/skiff-bench -skiff bin/skiff          (what `make bench` runs)
//	go run ./cmd/skiff-bench -only skiff -duration 2s -clients 16
//
// The table goes to stdout; progress goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	skiffBin     string
	etcdBin      string
	duration     time.Duration
	warmup       time.Duration
	only         string
	clients      []int
	failovers    int
	securityRuns int
	runs         int
	insecure     bool
	keep         bool
}

func main() {
	// The load generator shares the two cores with the servers it
	// measures: collecting garbage less often leaves them more CPU, the
	// same for skiff and for etcd.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	cfg := &config{}
	var clients string
	flag.StringVar(&cfg.skiffBin, "skiff", "bin/skiff", "skiff binary to run the masters with (`make build` makes bin/skiff)")
	flag.StringVar(&cfg.etcdBin, "etcd", "etcd", "etcd server binary (Debian's etcd-server)")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "measured time of each create run and of the watch run")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "unmeasured time before each run")
	flag.StringVar(&cfg.only, "only", "both", "which system to measure: skiff, etcd or both")
	flag.StringVar(&clients, "clients", "1,16,128", "comma-separated numbers of concurrent clients for the create runs")
	flag.IntVar(&cfg.failovers, "failovers", 3, "leader kills per system (the table shows the worst)")
	flag.IntVar(&cfg.runs, "runs", 5, "create runs per system, skiff and etcd taking turns (the table shows medians)")
	flag.IntVar(&cfg.securityRuns, "security-runs", 3, "plain-HTTP skiff create runs, taken in turns with the others, for the cost of security (medians compared)")
	flag.BoolVar(&cfg.insecure, "insecure", false, "plain HTTP for both: skiff with --insecure-bench-only (no TLS, no authentication), etcd without TLS")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the data directories and logs (their path is printed)")
	cpuProfile := flag.String("cpuprofile", "", "write the load generator's own CPU profile here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail("%v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail("%v", err)
		}
		defer pprof.StopCPUProfile()
	}
	if flag.NArg() > 0 {
		fail("unexpected arguments: %v", flag.Args())
	}
	for _, f := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fail("-clients: %q is not a positive number", f)
		}
		if !slices.Contains(cfg.clients, n) {
			cfg.clients = append(cfg.clients, n)
		}
	}
	switch cfg.only {
	case "skiff", "etcd", "both":
	default:
		fail("-only must be skiff, etcd or both, not %q", cfg.only)
	}
	if cfg.duration <= 0 || cfg.warmup < 0 || cfg.failovers < 0 || cfg.runs < 1 || cfg.securityRuns < 0 {
		fail("-duration and -runs must be positive, -warmup, -failovers and -security-runs not negative")
	}
	code := run(cfg)
	pprof.StopCPUProfile()
	os.Exit(code)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "skiff-bench: "+format+"\n", args...)
	os.Exit(2)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// run measures, prints, and cleans up; it returns the exit code.
func run(cfg *config) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		// From now on a second Ctrl-C kills the bench at once (the
		// servers follow through Pdeathsig).
		stop()
	}()
	root, err := os.MkdirTemp("", "skiff-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "skiff-bench:", err)
		return 1
	}
	ps := &procs{}
	defer func() {
		ps.killAll()
		if cfg.keep {
			progress("kept data and logs in %s", root)
		} else {
			os.RemoveAll(root)
		}
	}()

	began := time.Now()
	startWith := func(dir string, insecure bool) func(ctx context.Context) (system, error) {
		return func(ctx context.Context) (system, error) {
			s, err := startSkiff(ctx, cfg.skiffBin, filepath.Join(root, dir), insecure, ps)
			if s == nil { // not a typed nil in the interface
				return nil, err
			}
			return s, err
		}
	}
	startEtcdIn := func(dir string) func(ctx context.Context) (system, error) {
		return func(ctx context.Context) (system, error) {
			e, err := startEtcd(ctx, cfg.etcdBin, filepath.Join(root, dir), cfg.insecure, ps)
			if e == nil {
				return nil, err
			}
			return e, err
		}
	}
	// The first run of each system measures everything; later runs only
	// the creates, each on a new cluster. Runs take turns — skiff, etcd,
	// plain skiff for the cost of security — so that the machine's own
	// ups and downs (it is shared, and one run can be 30% off the next)
	// fall on both systems alike, and the table compares medians.
	var skiffRuns, etcdRuns, plains []*sysResult
	for i := 0; i < max(cfg.runs, cfg.securityRuns) && ctx.Err() == nil; i++ {
		if i < cfg.runs && cfg.only != "etcd" {
			skiffRuns = append(skiffRuns, measure(ctx, cfg, runName("skiff", i), i > 0, startWith(fmt.Sprintf("skiff%d", i+1), cfg.insecure)))
		}
		if i < cfg.runs && cfg.only != "skiff" && ctx.Err() == nil {
			etcdRuns = append(etcdRuns, measure(ctx, cfg, runName("etcd", i), i > 0, startEtcdIn(fmt.Sprintf("etcd%d", i+1))))
		}
		// What security costs: the same creates against skiff without
		// TLS, authentication, authorization or audit.
		if i < cfg.securityRuns && cfg.only != "etcd" && !cfg.insecure && ctx.Err() == nil {
			plains = append(plains, measure(ctx, cfg, fmt.Sprintf("skiff-plain-%d", i+1), true, startWith(fmt.Sprintf("plain%d", i+1), true)))
		}
	}
	sk, et := combineRuns(skiffRuns, cfg.clients), combineRuns(etcdRuns, cfg.clients)
	failed := false
	for _, r := range append(append(skiffRuns, etcdRuns...), plains...) {
		if r != nil && r.err != nil {
			failed = true
			progress("%s: %v", r.name, r.err)
		}
	}
	if failed && ctx.Err() == nil {
		ps.printTails(30)
	}

	printHeader(cfg, time.Since(began))
	printTable(os.Stdout, rows(sk, et, skiffRuns, etcdRuns, cfg.clients, cfg.failovers))
	if len(plains) > 0 {
		fmt.Println()
		printSecurityCost(os.Stdout, skiffRuns, plains, cfg.clients)
	}
	value, _ := storedJSON("c128-127-99999")
	body, _ := json.Marshal(configMap("c128-127-99999"))
	printNotes(os.Stdout, cfg, skiffRuns, etcdRuns, len(value), len(body))
	if ctx.Err() != nil {
		progress("interrupted")
		return 130
	}
	if failed {
		return 1
	}
	return 0
}

// measure starts one system and runs every measurement on it in turn; it
// stops at the first phase that fails, keeping what was measured before.
func measure(ctx context.Context, cfg *config, name string, createsOnly bool, start func(context.Context) (system, error)) *sysResult {
	r := &sysResult{name: name, ran: true, loads: map[int]*loadResult{}}
	began := time.Now()
	defer func() { r.elapsed = time.Since(began) }()
	phase := func(what string, t0 time.Time) {
		r.phases = append(r.phases, fmt.Sprintf("%s %s", what, time.Since(t0).Round(100*time.Millisecond)))
	}

	progress("starting %s (3 members)...", name)
	t0 := time.Now()
	sys, err := start(ctx)
	if sys != nil {
		defer sys.close()
	}
	if err != nil {
		r.err = fmt.Errorf("starting: %w", err)
		return r
	}
	phase("start", t0)

	for _, c := range cfg.clients {
		progress("%s %d clients...", name, c)
		t0 = time.Now()
		ws, closeWs, err := sys.writers(c)
		if err != nil {
			r.err = err
			return r
		}
		l := runLoad(ctx, ws, fmt.Sprintf("c%d", c), cfg.warmup, cfg.duration, nil, sys.cpu)
		closeWs()
		if ctx.Err() != nil {
			r.err = ctx.Err()
			return r
		}
		r.loads[c] = &l
		srvCPU, benchCPU := l.cpuPerWrite()
		progress("%s %d clients: %.0f writes/s, p50 %.1f ms, p99 %.1f ms, %d errors; CPU per write: members %.0f µs, load generator %.0f µs", name, c, l.perSec(), ms(l.p(0.5)), ms(l.p(0.99)), l.errors, us(srvCPU), us(benchCPU))
		phase(fmt.Sprintf("%d clients", c), t0)
	}

	if createsOnly {
		return r
	}
	progress("%s watch delivery (%d writers, watcher on a follower)...", name, watchClients)
	t0 = time.Now()
	w, err := measureWatch(ctx, sys, cfg.warmup, cfg.duration)
	if err != nil {
		r.err = fmt.Errorf("watch: %w", err)
		return r
	}
	r.watch = &w
	progress("%s watch: p50 %.1f ms, p99 %.1f ms over %d events, %d lost", name, ms(percentile(w.lat, 0.5)), ms(percentile(w.lat, 0.99)), len(w.lat), w.missed)
	phase("watch", t0)

	if cfg.failovers > 0 {
		progress("%s leader failover (%d trials)...", name, cfg.failovers)
		t0 = time.Now()
		trials, err := measureFailover(ctx, sys, cfg.failovers, func(s string) { progress("%s %s", name, s) })
		r.failover = trials
		if err != nil {
			r.err = fmt.Errorf("failover: %w", err)
			return r
		}
		phase("failover", t0)
	}
	return r
}

// printHeader says what machine and what versions the figures are from.
func printHeader(cfg *config, took time.Duration) {
	fmt.Println("skiff-bench: 3-master skiff vs 3-member etcd on loopback, measured one after the other on this machine")
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Printf("machine: %d CPUs (nproc), %s, linux %s %s, %s\n", runtime.NumCPU(), cpuModel(), strings.TrimSpace(string(kernel)), runtime.GOARCH, runtime.Version())
	var versions []string
	if cfg.only != "etcd" {
		versions = append(versions, "skiff "+skiffVersion(cfg.skiffBin))
	}
	if cfg.only != "skiff" {
		versions = append(versions, etcdVersion(cfg.etcdBin), "client go.etcd.io/etcd/client/v3 "+moduleVersion("go.etcd.io/etcd/client/v3"))
	}
	fmt.Printf("versions: %s\n", strings.Join(versions, "; "))
	fmt.Printf("run: %s per run after %s warm-up, clients %v, %d create runs and %d failover trials per system; took %s\n\n",
		cfg.duration, cfg.warmup, cfg.clients, cfg.runs, cfg.failovers, took.Round(time.Second))
}

func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func skiffVersion(bin string) string {
	out, err := exec.Command(bin, "version", "--client").Output()
	if err != nil {
		return "unknown"
	}
	v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "Client Version:"))
	return v
}

func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "unknown"
}
