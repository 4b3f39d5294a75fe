// Command skiff-dnsbench measures how many queries per second the agent's
// cluster DNS server answers for Service names, with dnsperf (Debian),
// side by side with dnsmasq (Debian's dnsmasq-base) answering the same
// names from a hosts file. Both listen on loopback only and forward
// nothing; the goal is 50,000 qps on this machine and at least dnsmasq's.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/skiffhq/skiff/cmd/internal/benchkit"
	"github.com/skiffhq/skiff/dnsproxy"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const goalQPS = 50000

func main() {
	services := flag.Int("services", 1000, "Services in the table (and names in dnsmasq's hosts file)")
	duration := flag.Duration("duration", 10*time.Second, "dnsperf run length per server")
	clients := flag.Int("clients", 16, "dnsperf clients (-c)")
	keep := flag.Bool("keep", false, "keep the work directory")
	flag.Parse()
	if err := run(*services, *duration, *clients, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "skiff-dnsbench:", err)
		os.Exit(1)
	}
}

func run(n int, d time.Duration, clients int, keep bool) error {
	for _, tool := range []string{"dnsperf", "dnsmasq"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s missing (make deps installs dnsperf and dnsmasq-base): %w", tool, err)
		}
	}
	dir, err := os.MkdirTemp("", "skiff-dnsbench-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("work directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	table := dnsproxy.NewTable("cluster.local")
	var hosts, queries strings.Builder
	for i := range n {
		ns, name := fmt.Sprintf("ns%d", i%10), fmt.Sprintf("svc-%04d", i)
		ip := netip.AddrFrom4([4]byte{10, 43, byte(i >> 8), byte(i)})
		if ip.As4()[3] == 0 {
			ip = ip.Next()
		}
		table.SetService(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{ClusterIP: ip.String(), Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}})
		fqdn := name + "." + ns + ".svc.cluster.local"
		fmt.Fprintf(&hosts, "%s %s\n", ip, fqdn)
		fmt.Fprintf(&queries, "%s A\n", fqdn)
	}
	table.MarkSynced()
	hostsFile, queryFile := filepath.Join(dir, "hosts"), filepath.Join(dir, "queries")
	if err := os.WriteFile(hostsFile, []byte(hosts.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(queryFile, []byte(queries.String()), 0o644); err != nil {
		return err
	}

	srv, err := dnsproxy.NewServer(dnsproxy.Config{Addr: "127.0.0.1:0", Table: table, Logger: benchkitQuiet()})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	benchkit.Progress("skiff DNS on %s: dnsperf for %s", srv.Addr(), d)
	skiff, err := dnsperf(srv.Addr(), queryFile, d, clients)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	if err != nil {
		return fmt.Errorf("dnsperf against skiff: %w", err)
	}

	port := freeUDPPort()
	masq := exec.Command("dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--addn-hosts="+hostsFile,
		"--listen-address=127.0.0.1", "--bind-interfaces", "--port="+strconv.Itoa(port), "--cache-size=10000",
		"--user=root", "--pid-file="+filepath.Join(dir, "dnsmasq.pid"), "--log-facility="+filepath.Join(dir, "dnsmasq.log"))
	if out, err := os.Create(filepath.Join(dir, "dnsmasq.out")); err == nil {
		masq.Stdout, masq.Stderr = out, out
		defer out.Close()
	}
	if err := masq.Start(); err != nil {
		return fmt.Errorf("dnsmasq: %w", err)
	}
	defer func() { masq.Process.Kill(); masq.Wait() }()
	time.Sleep(300 * time.Millisecond)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	benchkit.Progress("dnsmasq on %s: dnsperf for %s", addr, d)
	dm, err := dnsperf(addr, queryFile, d, clients)
	if err != nil {
		return fmt.Errorf("dnsperf against dnsmasq: %w", err)
	}

	fmt.Printf("\nmachine: %d CPUs; %d Service names (A queries, all answered), dnsperf -c %d for %s each; both servers on loopback, one after the other\n\n", benchkit.CPUs(), n, clients, d)
	fmt.Println("| figure | goal | skiff | dnsmasq | skiff/dnsmasq |")
	fmt.Println("| --- | --- | ---: | ---: | ---: |")
	fmt.Printf("| queries/s | >= %d and >= dnsmasq: %s | %.0f | %.0f | %.2f |\n", goalQPS, benchkit.Met(skiff.qps >= goalQPS && skiff.qps >= dm.qps), skiff.qps, dm.qps, skiff.qps/dm.qps)
	fmt.Printf("| average latency ms | — | %.3f | %.3f | %.2f |\n", skiff.latency*1000, dm.latency*1000, skiff.latency/dm.latency)
	fmt.Printf("| queries lost | — | %d | %d | — |\n", skiff.lost, dm.lost)
	return nil
}

type perf struct {
	qps, latency float64
	lost         int
}

var (
	qpsRe  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	latRe  = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
	lostRe = regexp.MustCompile(`Queries lost:\s+(\d+)`)
)

// dnsperf runs dnsperf against addr and reads its summary.
func dnsperf(addr, queries string, d time.Duration, clients int) (perf, error) {
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("dnsperf", "-s", host, "-p", port, "-d", queries, "-l", strconv.Itoa(int(d.Seconds())),
		"-c", strconv.Itoa(clients), "-T", "2", "-q", "1000")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return perf{}, fmt.Errorf("%v: %s", err, out)
	}
	var p perf
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		l := sc.Text()
		if m := qpsRe.FindStringSubmatch(l); m != nil {
			p.qps, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := latRe.FindStringSubmatch(l); m != nil {
			p.latency, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := lostRe.FindStringSubmatch(l); m != nil {
			p.lost, _ = strconv.Atoi(m[1])
		}
	}
	if p.qps == 0 {
		return p, fmt.Errorf("no figure in dnsperf's output:\n%s", out)
	}
	return p, nil
}

func freeUDPPort() int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 15353
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// benchkitQuiet keeps the server's own logging out of the table.
func benchkitQuiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
