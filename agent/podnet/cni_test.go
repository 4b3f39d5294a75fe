package podnet

// Real tests: root, Debian's CNI plugins, a bridge of their own (sktest<4 hex digits>)
// over 10.42.254.0/24. Traffic goes only to addresses inside namespaces the
// tests create, to the test bridge's gateway and to loopback.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// allocationOf returns the id recorded in host-local's file for ip, or "".
func allocationOf(t testing.TB, c *CNI, ip net.IP) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.cfg.ipamDir(), ip.String()))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(id)
}

func isMountedNetNS(t testing.TB, path string) bool {
	t.Helper()
	ok, err := isNetNS(path)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestPodToPodAndHost(t *testing.T) {
	c := newTestCNI(t, func(cfg *Config) { cfg.IPMasq = true })
	_, subnet, _ := net.ParseCIDR(testSubnet)
	idA, idB := c.cfg.BridgeName+"-a", c.cfg.BridgeName+"-b"
	a := setup(t, c, idA, SetupOptions{Labels: map[string]string{"K8S_POD_NAMESPACE": "default", "K8S_POD_NAME": "a"}})
	b := setup(t, c, idB, SetupOptions{})

	for _, att := range []*Attachment{a, b} {
		if !subnet.Contains(att.IP) || att.IP.String() == testGateway {
			t.Errorf("%s got %s, outside the pod range of %s", att.ID, att.IP, testSubnet)
		}
		if att.Interface != "eth0" || att.NetNSPath != filepath.Join(c.cfg.NetNSDir, att.ID) {
			t.Errorf("attachment %+v", att)
		}
		if !isMountedNetNS(t, att.NetNSPath) {
			t.Errorf("%s is not a mounted netns", att.NetNSPath)
		}
		if got := allocationOf(t, c, att.IP); got != att.ID {
			t.Errorf("allocation of %s records %q, want %q", att.IP, got, att.ID)
		}
	}
	if a.IP.Equal(b.IP) {
		t.Fatalf("both pods got %s", a.IP)
	}

	// Inside the pod: eth0 has the address, the default route goes to the
	// bridge, lo is up.
	if err := InNetNS(a.NetNSPath, func() error {
		ifc, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return err
		}
		if len(addrs) == 0 || !strings.HasPrefix(addrs[0].String(), a.IP.String()+"/") {
			return fmt.Errorf("eth0 addresses %v, want %s/24", addrs, a.IP)
		}
		lo, err := net.InterfaceByName("lo")
		if err != nil {
			return err
		}
		if lo.Flags&net.FlagUp == 0 {
			return errors.New("lo is down")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	addrA := net.JoinHostPort(a.IP.String(), "8080")
	listenIn(t, a.NetNSPath, addrA)

	// Pod B -> pod A over the bridge: A sees B's own address.
	var fromB string
	if err := InNetNS(b.NetNSPath, func() (err error) {
		fromB, err = exchange(addrA, "hello from b")
		return err
	}); err != nil {
		t.Fatalf("pod b -> %s: %v", addrA, err)
	}
	if want := "hello from b from " + b.IP.String(); fromB != want {
		t.Errorf("pod b got %q, want %q", fromB, want)
	}

	// Host -> pod A through the bridge: A sees the gateway.
	fromHost, err := exchange(addrA, "hello from host")
	if err != nil {
		t.Fatalf("host -> %s: %v", addrA, err)
	}
	if want := "hello from host from " + testGateway; fromHost != want {
		t.Errorf("host got %q, want %q", fromHost, want)
	}

	// Pod A -> itself through its own address.
	var fromSelf string
	if err := InNetNS(a.NetNSPath, func() (err error) {
		fromSelf, err = exchange(addrA, "self")
		return err
	}); err != nil {
		t.Fatalf("pod a -> itself: %v", err)
	}
	if want := "self from " + a.IP.String(); fromSelf != want {
		t.Errorf("pod a got %q, want %q", fromSelf, want)
	}
}

func TestTeardownReleasesAndIsIdempotent(t *testing.T) {
	c := newTestCNI(t, func(cfg *Config) { cfg.IPMasq = true })
	ctx := testCtx(t)
	id := c.cfg.BridgeName + "-t"
	a := setup(t, c, id, SetupOptions{})
	cache := filepath.Join("/var/lib/cni/results", c.cfg.NetworkName+"-"+id+"-eth0")
	if !fileExists(cache) {
		t.Errorf("libcni cache %s missing after setup", cache)
	}

	if err := c.Teardown(ctx, id, a); err != nil {
		t.Fatal(err)
	}
	if got := allocationOf(t, c, a.IP); got != "" {
		t.Errorf("%s still allocated to %q", a.IP, got)
	}
	if fileExists(a.NetNSPath) {
		t.Errorf("netns file %s left", a.NetNSPath)
	}
	if fileExists(cache) {
		t.Errorf("libcni cache %s left", cache)
	}
	if err := c.Teardown(ctx, id, a); err != nil {
		t.Errorf("second teardown: %v", err)
	}
	if err := c.Teardown(ctx, id, nil); err != nil {
		t.Errorf("teardown without attachment: %v", err)
	}
	if err := c.Teardown(ctx, c.cfg.BridgeName+"-never", nil); err != nil {
		t.Errorf("teardown of an id never set up: %v", err)
	}
	// The id can be set up again.
	setup(t, c, id, SetupOptions{})
}

func TestConcurrentSetup(t *testing.T) {
	c := newTestCNI(t, nil)
	ctx := testCtx(t)
	const n = 8
	atts := make([]*Attachment, n)
	errs := make([]error, n)
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			id := fmt.Sprintf("%s-c%d", c.cfg.BridgeName, i)
			t.Cleanup(func() {
				if err := c.Teardown(context.Background(), id, nil); err != nil {
					t.Errorf("cleanup %s: %v", id, err)
				}
			})
			atts[i], errs[i] = c.Setup(ctx, id, SetupOptions{})
		}()
	}
	for range n {
		<-done
	}
	seen := map[string]string{}
	for i, a := range atts {
		if errs[i] != nil {
			t.Fatalf("setup %d: %v", i, errs[i])
		}
		if other, dup := seen[a.IP.String()]; dup {
			t.Errorf("%s and %s share %s", a.ID, other, a.IP)
		}
		seen[a.IP.String()] = a.ID
	}
	for i, a := range atts {
		go func() {
			defer func() { done <- struct{}{} }()
			errs[i] = c.Teardown(ctx, a.ID, a)
		}()
	}
	for range n {
		<-done
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("teardown %d: %v", i, err)
		}
	}
	if allocs, err := c.allocations(); err != nil || len(allocs) != 0 {
		t.Errorf("allocations after teardown: %v, %v", allocs, err)
	}
}

func TestGCAfterCrash(t *testing.T) {
	c := newTestCNI(t, func(cfg *Config) { cfg.IPMasq = true })
	ctx := testCtx(t)
	keepID := c.cfg.BridgeName + "-keep"
	lostID := c.cfg.BridgeName + "-lost"
	goneID := c.cfg.BridgeName + "-gone"
	kept := setup(t, c, keepID, SetupOptions{})
	lost := setup(t, c, lostID, SetupOptions{})
	gone := setup(t, c, goneID, SetupOptions{})
	// goneID lost its namespace too (e.g. removed by hand): only the IP
	// allocation is left.
	if err := removeNetNS(gone.NetNSPath); err != nil {
		t.Fatal(err)
	}
	// A plain file where a namespace should be: a crash between creating
	// the file and mounting it.
	half := filepath.Join(c.cfg.NetNSDir, c.cfg.BridgeName+"-half")
	if err := os.WriteFile(half, nil, 0o444); err != nil {
		t.Fatal(err)
	}

	// The agent restarts: a new instance, nothing in memory.
	c2, err := New(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.GC(ctx, func(id string) bool { return id == keepID }); err != nil {
		t.Fatal(err)
	}
	for _, att := range []*Attachment{lost, gone} {
		if got := allocationOf(t, c, att.IP); got != "" {
			t.Errorf("%s: %s still allocated to %q", att.ID, att.IP, got)
		}
		if fileExists(att.NetNSPath) {
			t.Errorf("%s: netns file left", att.ID)
		}
	}
	if fileExists(half) {
		t.Errorf("half-made netns file %s left", half)
	}
	if got := allocationOf(t, c, kept.IP); got != keepID {
		t.Errorf("kept pod's allocation is %q", got)
	}
	if !isMountedNetNS(t, kept.NetNSPath) {
		t.Errorf("kept pod's netns is gone")
	}
	// Nothing left to collect but the kept pod.
	allocs, err := c2.allocations()
	if err != nil {
		t.Fatal(err)
	}
	if len(allocs) != 1 || len(allocs[keepID]) != 1 {
		t.Errorf("allocations after GC: %v", allocs)
	}
	if err := c2.GC(ctx, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if allocationOf(t, c, kept.IP) != "" || fileExists(kept.NetNSPath) {
		t.Errorf("second GC kept %s", keepID)
	}
}

func TestDuplicateID(t *testing.T) {
	c := newTestCNI(t, nil)
	ctx := testCtx(t)
	id := c.cfg.BridgeName + "-dup"
	a := setup(t, c, id, SetupOptions{})
	listenIn(t, a.NetNSPath, net.JoinHostPort(a.IP.String(), "8080"))

	_, err := c.Setup(ctx, id, SetupOptions{})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate setup: %v, want ErrExists", err)
	}
	t.Logf("duplicate setup: %v", err)

	// Another agent on the same host (own NetNSDir, shared IPAM) with the
	// same id is refused too.
	cfg := c.Config()
	cfg.NetNSDir = filepath.Join(t.TempDir(), "netns")
	other, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.Setup(ctx, id, SetupOptions{})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate setup through another NetNSDir: %v, want ErrExists", err)
	}
	t.Logf("duplicate setup, other agent: %v", err)
	if fileExists(filepath.Join(cfg.NetNSDir, id)) {
		t.Error("the refused setup left a netns file")
	}

	// The first pod is untouched: address, namespace, connectivity.
	if got := allocationOf(t, c, a.IP); got != id {
		t.Errorf("after the duplicates, %s is allocated to %q", a.IP, got)
	}
	if !isMountedNetNS(t, a.NetNSPath) {
		t.Error("after the duplicates, the netns is gone")
	}
	if _, err := exchange(net.JoinHostPort(a.IP.String(), "8080"), "still there?"); err != nil {
		t.Errorf("pod unreachable after the duplicates: %v", err)
	}
}

func TestHostPort(t *testing.T) {
	c := newTestCNI(t, nil)
	ctx := testCtx(t)
	id := c.cfg.BridgeName + "-hp"
	hostPort := freePort(t)
	a := setup(t, c, id, SetupOptions{PortMappings: []PortMapping{
		{HostPort: hostPort, ContainerPort: 8080, Protocol: "TCP"},
	}})
	listenIn(t, a.NetNSPath, "0.0.0.0:8080")

	for _, host := range []string{"127.0.0.1", testGateway} {
		addr := net.JoinHostPort(host, fmt.Sprint(hostPort))
		got, err := exchange(addr, "via hostPort")
		if err != nil {
			t.Errorf("host -> %s: %v", addr, err)
			continue
		}
		t.Logf("host -> %s: %q", addr, got)
		if !strings.HasPrefix(got, "via hostPort from ") {
			t.Errorf("host -> %s: %q", addr, got)
		}
	}

	// The agent restarts and tears the pod down without its attachment:
	// the mappings come from libcni's cache, so portmap removes its rules
	// (the cleanup of newTestCNI checks iptables).
	c2, err := New(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Teardown(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := exchange(net.JoinHostPort("127.0.0.1", fmt.Sprint(hostPort)), "gone?"); err == nil {
		t.Errorf("hostPort still answers after teardown: %q", got)
	}
}

func TestSetupFailureRollsBack(t *testing.T) {
	// A plugin dir where portmap fails its ADD: bridge has made the veth
	// and allocated the address by then.
	plugins := t.TempDir()
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if err := os.Symlink(filepath.Join("/usr/lib/cni", p), filepath.Join(plugins, p)); err != nil {
			t.Fatal(err)
		}
	}
	script := `#!/bin/sh
case "$CNI_COMMAND" in
ADD) echo '{"cniVersion":"1.0.0","code":999,"msg":"injected portmap failure"}'; exit 1 ;;
*) exit 0 ;;
esac
`
	if err := os.WriteFile(filepath.Join(plugins, "portmap"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newTestCNI(t, func(cfg *Config) { cfg.PluginDirs = []string{plugins} })
	ctx := testCtx(t)
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	for _, tc := range []struct {
		name string
		ctx  context.Context
	}{
		{"portmap fails", ctx},
		{"context canceled", canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := c.cfg.BridgeName + "-fail"
			_, err := c.Setup(tc.ctx, id, SetupOptions{})
			if err == nil {
				t.Fatal("setup succeeded")
			}
			t.Logf("setup: %v", err)
			if fileExists(filepath.Join(c.cfg.NetNSDir, id)) {
				t.Error("failed setup left its netns file")
			}
			allocs, err := c.allocations()
			if err != nil {
				t.Fatal(err)
			}
			if len(allocs) != 0 {
				t.Errorf("failed setup left allocations %v", allocs)
			}
			if out, err := exec.Command("ip", "-o", "link", "show", "master", c.cfg.BridgeName).CombinedOutput(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("failed setup left a veth on the bridge: %s", out)
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"no pod CIDR", func(c *Config) { c.PodCIDR = "" }},
		{"host bits", func(c *Config) { c.PodCIDR = "10.42.254.1/24" }},
		{"IPv6", func(c *Config) { c.PodCIDR = "fd00::/64" }},
		{"too small", func(c *Config) { c.PodCIDR = "10.42.254.0/31" }},
		{"relative netns dir", func(c *Config) { c.NetNSDir = "netns" }},
		{"long bridge name", func(c *Config) { c.BridgeName = "a-very-long-bridge-name" }},
		{"bad network name", func(c *Config) { c.NetworkName = "a/b" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.PodCIDR = testSubnet
			cfg.NetNSDir = filepath.Join(t.TempDir(), "netns")
			tc.cfg(&cfg)
			if _, err := New(cfg); !errors.Is(err, ErrInvalid) {
				t.Fatalf("New: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestInNetNSRestoresThread(t *testing.T) {
	c := newTestCNI(t, nil)
	a := setup(t, c, c.cfg.BridgeName+"-ns", SetupOptions{})
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	for range 50 {
		if err := InNetNS(a.NetNSPath, func() (err error) {
			inside, err = os.Readlink(threadNetNS())
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if inside == host {
		t.Fatal("fn ran in the host's netns")
	}
	// Every goroutine on every thread is back in the host's netns.
	errc := make(chan error, 100)
	for range 100 {
		go func() {
			got, err := os.Readlink(threadNetNS())
			if err == nil && got != host {
				err = fmt.Errorf("a thread is in %s, not the host's %s", got, host)
			}
			errc <- err
		}()
	}
	for range 100 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if err := InNetNS(filepath.Join(c.cfg.NetNSDir, "nope"), func() error { return nil }); err == nil {
		t.Error("InNetNS on a missing path succeeded")
	}
}

// BenchmarkSetupTeardown measures one pod's Setup and Teardown (veth,
// host-local, portmap without mappings, loopback) on a warm bridge.
func BenchmarkSetupTeardown(b *testing.B) {
	c := newTestCNI(b, nil)
	ctx := context.Background()
	prefix := c.cfg.BridgeName + "-bench"
	// Warm up: the first Setup creates the bridge.
	setup(b, c, prefix, SetupOptions{})
	var setupTime, teardownTime time.Duration
	n := 0
	for b.Loop() {
		id := fmt.Sprintf("%s%d", prefix, n)
		t0 := time.Now()
		if _, err := c.Setup(ctx, id, SetupOptions{}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := c.Teardown(ctx, id, nil); err != nil {
			b.Fatal(err)
		}
		setupTime += t1.Sub(t0)
		teardownTime += time.Since(t1)
		n++
	}
	b.ReportMetric(float64(setupTime.Microseconds())/float64(n)/1000, "setup-ms/op")
	b.ReportMetric(float64(teardownTime.Microseconds())/float64(n)/1000, "teardown-ms/op")
}
