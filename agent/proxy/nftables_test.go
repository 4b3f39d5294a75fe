package proxy

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
)

// requireRoot skips without root, unless CI is set: then it fails.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set and this test needs root (network namespaces, nftables)")
	}
	t.Skip("skipping: needs root for a network namespace and nftables (with CI set this is a failure)")
}

// inNetNS runs fn on a thread inside a new network namespace holding lo,
// a dummy interface with addrs and a route for the service CIDR onto it.
// The namespace has no name: it goes when its last socket closes.
func inNetNS(t *testing.T, addrs []string, fn func(ns netns.NsHandle)) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// The thread is left in the namespace and dies with the
		// goroutine: never unlocked, never reused.
		ns, err := netns.New()
		if err != nil {
			t.Errorf("new netns: %v", err)
			return
		}
		defer ns.Close()
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		// A bridge without ports: this kernel has no dummy driver, and
		// the bridge too is a sink for what is not NAT-ed.
		dummy := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "svc0"}}
		if err == nil {
			err = netlink.LinkAdd(dummy)
		}
		if err == nil {
			err = netlink.LinkSetUp(dummy)
		}
		for _, a := range addrs {
			if err == nil {
				var addr *netlink.Addr
				if addr, err = netlink.ParseAddr(a + "/32"); err == nil {
					err = netlink.AddrAdd(dummy, addr)
				}
			}
		}
		if err == nil {
			_, cidr, _ := net.ParseCIDR("10.43.0.0/16")
			err = netlink.RouteAdd(&netlink.Route{LinkIndex: dummy.Attrs().Index, Dst: cidr, Scope: netlink.SCOPE_LINK})
		}
		if err != nil {
			t.Errorf("setting up the namespace: %v", err)
			return
		}
		fn(ns)
	}()
	<-done
}

// serve answers every connection on addr with name and a newline.
func serve(t *testing.T, addr, name string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(name + "\n"))
			c.Close()
		}
	}()
}

// ask connects to addr and returns the answer.
func ask(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func ep(s string) Endpoint {
	ap := netip.MustParseAddrPort(s)
	return Endpoint{IP: ap.Addr(), Port: ap.Port()}
}

func TestNFTablesBalancesRefusesAndReplaces(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("nft"); err != nil && os.Getenv("CI") == "" {
		t.Log("nft is not installed: the table is not printed on failure")
	}
	inNetNS(t, []string{"10.99.0.2", "10.99.0.3"}, func(ns netns.NsHandle) {
		serve(t, "10.99.0.2:8080", "a")
		serve(t, "10.99.0.3:8080", "b")
		b := &NFTables{Table: "skiff-test", NetNSFd: int(ns)}
		web := ServicePort{Key: "default/web:http", ClusterIP: netip.MustParseAddr("10.43.0.10"), Port: 80, NodePort: 30080,
			Protocol: corev1.ProtocolTCP, Endpoints: []Endpoint{ep("10.99.0.2:8080"), ep("10.99.0.3:8080")}}
		sticky := web
		sticky.Key, sticky.ClusterIP, sticky.Affinity = "default/sticky:http", netip.MustParseAddr("10.43.0.12"), time.Minute
		sticky.NodePort = 0
		empty := ServicePort{Key: "default/empty:http", ClusterIP: netip.MustParseAddr("10.43.0.11"), Port: 80, Protocol: corev1.ProtocolTCP}
		if err := b.Sync(State{Services: []ServicePort{web, sticky, empty}}); err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for range 40 {
			got, err := ask("10.43.0.10:80")
			if err != nil {
				t.Fatalf("through the VIP: %v", err)
			}
			seen[got]++
		}
		if seen["a"] == 0 || seen["b"] == 0 || seen["a"]+seen["b"] != 40 {
			t.Errorf("40 connections through the VIP reached %v, want both endpoints", seen)
		}
		seen = map[string]int{}
		for range 40 {
			got, err := ask("10.99.0.3:30080")
			if err != nil {
				out, _ := exec.Command("nft", "list", "table", "ip", "skiff-test").CombinedOutput()
				t.Fatalf("through the node port: %v\n%s", err, out)
			}
			seen[got]++
		}
		if seen["a"] == 0 || seen["b"] == 0 {
			t.Errorf("40 connections to the node port reached %v, want both endpoints", seen)
		}
		first, err := ask("10.43.0.12:80")
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if got, err := ask("10.43.0.12:80"); err != nil || got != first {
				t.Fatalf("ClientIP affinity: %q, %v after %q", got, err, first)
			}
		}
		start := time.Now()
		if _, err := ask("10.43.0.11:80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("a service without endpoints: %v, want connection refused", err)
		} else if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("refused after %s, want at once", d)
		}
		// One endpoint fewer: a full sync replaces the table.
		web.Endpoints = web.Endpoints[:1]
		if err := b.Sync(State{Services: []ServicePort{web}}); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if got, err := ask("10.43.0.10:80"); err != nil || got != "a" {
				t.Fatalf("after b left: %q, %v", got, err)
			}
		}
		if _, err := ask("10.43.0.12:80"); err == nil {
			t.Error("a deleted service still answers")
		}
		if err := b.Cleanup(); err != nil {
			t.Fatal(err)
		}
		if _, err := ask("10.43.0.10:80"); err == nil {
			t.Error("the VIP answers after Cleanup")
		}
	})
}
