// Command skiff-proxybench measures how long the service proxy takes to
// program the kernel for many Services (the goal: 10,000 Services
// of 10 endpoints each in under 1 s), side by side with iptables-restore
// loading the same Services as kube-proxy's iptables mode writes them —
// the cost nftables and IPVS exist to avoid.
//
// Everything happens in a network namespace of its own (ip netns add),
// removed at the end: the host's tables are never touched. Needs root.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/skiffhq/skiff/agent/proxy"
	"github.com/skiffhq/skiff/cmd/internal/benchkit"
	corev1 "k8s.io/api/core/v1"
)

const goal = time.Second

func main() {
	services := flag.Int("services", 10000, "Services (one TCP port each)")
	endpoints := flag.Int("endpoints", 10, "ready endpoints per Service")
	runs := flag.Int("runs", 3, "full syncs measured (the table shows the median)")
	iptablesLimit := flag.Duration("iptables-timeout", 3*time.Minute, "give iptables-restore this long")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "skiff-proxybench: needs root (a network namespace, nftables)")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *services, *endpoints, *runs, *iptablesLimit); err != nil {
		fmt.Fprintln(os.Stderr, "skiff-proxybench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, nsvc, neps, runs int, iptablesLimit time.Duration) error {
	ns := fmt.Sprintf("skiff-proxybench-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer f.Close()
	b := &proxy.NFTables{Table: "skiff-proxybench", NetNSFd: int(f.Fd())}

	st := state(nsvc, neps)
	var full []time.Duration
	for i := range runs {
		benchkit.Progress("nftables: full sync %d/%d of %d services x %d endpoints", i+1, runs, nsvc, neps)
		start := time.Now()
		if err := b.Sync(st); err != nil {
			return err
		}
		full = append(full, time.Since(start))
	}
	// One endpoint moves: the whole table is programmed again.
	st.Services[nsvc/2].Endpoints[0].Port++
	start := time.Now()
	if err := b.Sync(st); err != nil {
		return err
	}
	change := time.Since(start)
	rules := countRules(ns)

	benchkit.Progress("iptables-restore: the same services as kube-proxy's iptables mode writes them (up to %s)", iptablesLimit)
	ipt, iptErr := iptablesRestore(ctx, ns, st, iptablesLimit)

	med := median(full)
	fmt.Printf("\nmachine: %d CPUs; %d services x %d endpoints (%d endpoints); nft table: %s\n\n", benchkit.CPUs(), nsvc, neps, nsvc*neps, rules)
	fmt.Println("| figure | goal | skiff (nftables) | iptables-restore (kube-proxy iptables rules) |")
	fmt.Println("| --- | --- | ---: | ---: |")
	iptCell := benchkit.Ms(ipt)
	if iptErr != nil {
		iptCell = iptErr.Error()
	}
	fmt.Printf("| full sync (median of %d) | < %s: %s | %s | %s |\n", runs, benchkit.Ms(goal), benchkit.Met(med < goal), benchkit.Ms(med), iptCell)
	fmt.Printf("| sync after one endpoint changed | < %s: %s | %s | — |\n", benchkit.Ms(goal), benchkit.Met(change < goal), benchkit.Ms(change))
	fmt.Printf("\nfull syncs: %v\n", full)
	return nil
}

// state is nsvc Services with neps endpoints each, spread over the pod and
// service CIDRs' defaults.
func state(nsvc, neps int) proxy.State {
	var st proxy.State
	for i := range nsvc {
		sp := proxy.ServicePort{Key: fmt.Sprintf("bench/svc-%05d:http", i),
			ClusterIP: netip.AddrFrom4([4]byte{10, 43, byte(i >> 8), byte(i)}), Port: 80, Protocol: corev1.ProtocolTCP}
		for j := range neps {
			n := i*neps + j
			sp.Endpoints = append(sp.Endpoints, proxy.Endpoint{IP: netip.AddrFrom4([4]byte{10, 42, byte(n >> 8), byte(n)}), Port: 8080})
		}
		st.Services = append(st.Services, sp)
	}
	return st
}

// iptablesRestore loads st as kube-proxy's iptables mode writes it: a
// chain per service with statistic-mode random jumps, a chain per endpoint
// with the hairpin mark and the DNAT.
func iptablesRestore(ctx context.Context, ns string, st proxy.State, limit time.Duration) (time.Duration, error) {
	var in bytes.Buffer
	in.WriteString("*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n")
	for i, sp := range st.Services {
		fmt.Fprintf(&in, ":KUBE-SVC-%d - [0:0]\n", i)
		for j := range sp.Endpoints {
			fmt.Fprintf(&in, ":KUBE-SEP-%d-%d - [0:0]\n", i, j)
		}
	}
	in.WriteString("-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\n-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n")
	for i, sp := range st.Services {
		fmt.Fprintf(&in, "-A KUBE-SERVICES -d %s/32 -p tcp -m tcp --dport %d -j KUBE-SVC-%d\n", sp.ClusterIP, sp.Port, i)
		n := len(sp.Endpoints)
		for j, ep := range sp.Endpoints {
			if j < n-1 {
				fmt.Fprintf(&in, "-A KUBE-SVC-%d -m statistic --mode random --probability %.5f -j KUBE-SEP-%d-%d\n", i, 1/float64(n-j), i, j)
			} else {
				fmt.Fprintf(&in, "-A KUBE-SVC-%d -j KUBE-SEP-%d-%d\n", i, i, j)
			}
			fmt.Fprintf(&in, "-A KUBE-SEP-%d-%d -s %s/32 -j KUBE-MARK-MASQ\n", i, j, ep.IP)
			fmt.Fprintf(&in, "-A KUBE-SEP-%d-%d -p tcp -m tcp -j DNAT --to-destination %s\n", i, j, ep)
		}
	}
	in.WriteString("COMMIT\n")
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "iptables-restore", "-w")
	cmd.Stdin = &in
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if ctx.Err() != nil {
		return took, fmt.Errorf("> %s (stopped)", limit)
	}
	if err != nil {
		return took, fmt.Errorf("failed: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return took, nil
}

func countRules(ns string) string {
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "ip", "skiff-proxybench").Output()
	if err != nil {
		return "(nft not installed)"
	}
	return fmt.Sprintf("%d lines as nft lists them", bytes.Count(out, []byte("\n")))
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
