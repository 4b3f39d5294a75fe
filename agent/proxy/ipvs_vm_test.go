package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudflare/ipvs"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
)

// This machine's kernel has no IPVS, so the IPVS backend is tested in a
// small VM: Debian's kernel (linux-image-amd64, fetched with apt-get
// download and cached) and an initramfs holding busybox, the IPVS modules
// and this package's test binary, which runs TestIPVSInsideVM as PID 1's
// child and prints a marker. qemu runs it under software emulation (KVM
// does not boot a stock kernel here); no network device: nothing leaves.

const (
	inVMEnv      = "SKIFF_IN_VM"
	vmPassMarker = "SKIFF-VM-PASS"
	vmFailMarker = "SKIFF-VM-FAIL"
)

// vmModules are loaded in this order (no modprobe in the VM: the order
// follows each module's depends and softdeps).
var vmModules = []string{"nf_defrag_ipv4", "nf_defrag_ipv6", "crc32c_generic", "libcrc32c", "nf_conntrack", "ip_vs", "ip_vs_rr", "dummy"}

var vmModulePaths = map[string]string{
	"nf_defrag_ipv4": "net/ipv4/netfilter/nf_defrag_ipv4.ko",
	"nf_defrag_ipv6": "net/ipv6/netfilter/nf_defrag_ipv6.ko",
	"crc32c_generic": "crypto/crc32c_generic.ko",
	"libcrc32c":      "lib/libcrc32c.ko",
	"nf_conntrack":   "net/netfilter/nf_conntrack.ko",
	"ip_vs":          "net/netfilter/ipvs/ip_vs.ko",
	"ip_vs_rr":       "net/netfilter/ipvs/ip_vs_rr.ko",
	"dummy":          "drivers/net/dummy.ko",
}

// vmPrereq says what is missing to run the VM test, or "".
func vmPrereq() string {
	if os.Geteuid() != 0 {
		return "not root (apt-get download into the cache)"
	}
	for _, tool := range []string{"qemu-system-x86_64", "cpio", "busybox", "apt-get", "apt-cache", "dpkg-deb", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " missing (make deps: qemu-system-x86, cpio, busybox-static)"
		}
	}
	return ""
}

func TestIPVSInVM(t *testing.T) {
	if os.Getenv(inVMEnv) != "" {
		t.Skip("this is the VM")
	}
	if why := vmPrereq(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and the VM test cannot run: %s", why)
		}
		t.Skipf("skipping the IPVS VM test: %s (set CI=true to make this a failure)", why)
	}
	kernel, modules := vmKernel(t)
	work := t.TempDir()
	bin := filepath.Join(work, "proxy.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test binary: %v\n%s", err, out)
	}
	initrd := vmInitramfs(t, work, modules, bin)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	qemu := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1", "-nographic",
		"-nic", "none", "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 quiet panic=-1")
	out, err := qemu.CombinedOutput()
	t.Logf("the VM ran for %s", time.Since(start).Round(100*time.Millisecond))
	switch {
	case bytes.Contains(out, []byte(vmPassMarker)):
		t.Logf("inside the VM:\n%s", vmTestOutput(out))
	case ctx.Err() != nil:
		t.Fatalf("the VM did not finish within 4 minutes:\n%s", out)
	default:
		t.Fatalf("the IPVS test failed in the VM (qemu: %v):\n%s", err, out)
	}
}

// vmTestOutput is the test binary's part of the console output.
func vmTestOutput(out []byte) string {
	s := string(out)
	if i := strings.Index(s, "=== RUN"); i >= 0 {
		s = s[i:]
	}
	return s
}

// vmKernel returns Debian's kernel and its modules directory, downloaded
// once into $SKIFF_VM_CACHE (default /var/cache/skiff/vm).
func vmKernel(t *testing.T) (vmlinuz, modules string) {
	t.Helper()
	cache := os.Getenv("SKIFF_VM_CACHE")
	if cache == "" {
		cache = "/var/cache/skiff/vm"
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		t.Fatalf("apt-cache depends linux-image-amd64: %v", err)
	}
	pkg := ""
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			pkg = f[1]
		}
	}
	if pkg == "" {
		t.Fatalf("no kernel package in apt-cache depends linux-image-amd64:\n%s", out)
	}
	version := strings.TrimPrefix(pkg, "linux-image-")
	root := filepath.Join(cache, pkg)
	vmlinuz = filepath.Join(root, "boot", "vmlinuz-"+version)
	modules = filepath.Join(root, "lib", "modules", version, "kernel")
	if _, err := os.Stat(vmlinuz); err == nil {
		return vmlinuz, modules
	}
	debs, _ := filepath.Glob(filepath.Join(cache, pkg+"_*.deb"))
	if len(debs) == 0 {
		dl := exec.Command("apt-get", "download", pkg)
		dl.Dir = cache
		if out, err := dl.CombinedOutput(); err != nil {
			t.Fatalf("apt-get download %s: %v\n%s", pkg, err, out)
		}
		debs, _ = filepath.Glob(filepath.Join(cache, pkg+"_*.deb"))
	}
	if len(debs) == 0 {
		t.Fatalf("apt-get download %s left no .deb in %s", pkg, cache)
	}
	tmp := root + ".tmp"
	os.RemoveAll(tmp)
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], tmp).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, root); err != nil {
		t.Fatal(err)
	}
	return vmlinuz, modules
}

// vmInitramfs writes initrd.gz: busybox and its links, the modules, the
// test binary and an /init that loads the modules, runs the test and
// powers off.
func vmInitramfs(t *testing.T, work, modules, bin string) string {
	t.Helper()
	root := filepath.Join(work, "root")
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "modules"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile := func(src, dst string, mode os.FileMode) {
		raw, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, raw, mode); err != nil {
			t.Fatal(err)
		}
	}
	busybox, _ := exec.LookPath("busybox")
	copyFile(busybox, filepath.Join(root, "bin", "busybox"), 0o755)
	for _, applet := range []string{"sh", "mount", "insmod", "ip", "poweroff", "echo"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range vmModules {
		copyFile(filepath.Join(modules, vmModulePaths[m]), filepath.Join(root, "modules", m+".ko"), 0o644)
	}
	copyFile(bin, filepath.Join(root, "proxy.test"), 0o755)
	init := "#!/bin/sh\n" +
		"mount -t devtmpfs dev /dev\nmount -t proc proc /proc\nmount -t sysfs sys /sys\n" +
		"for m in " + strings.Join(vmModules, " ") + "; do insmod /modules/$m.ko || echo \"insmod $m failed\"; done\n" +
		"ip link set lo up\n" +
		inVMEnv + "=1 /proxy.test -test.run '^TestIPVSInsideVM$' -test.v -test.count=1 && echo " + vmPassMarker + " || echo " + vmFailMarker + "\n" +
		"poweroff -f\n"
	if err := os.WriteFile(filepath.Join(root, "init"), []byte(init), 0o755); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(work, "initrd.gz")
	pack := exec.Command("sh", "-c", "find . | cpio -o -H newc --quiet | gzip -1 > "+initrd)
	pack.Dir = root
	if out, err := pack.CombinedOutput(); err != nil {
		t.Fatalf("packing the initramfs: %v\n%s", err, out)
	}
	return initrd
}

// TestIPVSInsideVM runs only in the VM: the IPVS backend programs the
// kernel, and real connections go through the cluster IPs.
func TestIPVSInsideVM(t *testing.T) {
	if os.Getenv(inVMEnv) == "" {
		t.Skip("runs inside the IPVS VM (TestIPVSInVM)")
	}
	// Two local real servers on a dummy interface.
	backends := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "backends"}}
	if err := netlink.LinkAdd(backends); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(backends); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"10.99.0.2/32", "10.99.0.3/32"} {
		addr, _ := netlink.ParseAddr(a)
		if err := netlink.AddrAdd(backends, addr); err != nil {
			t.Fatal(err)
		}
	}
	serve(t, "10.99.0.2:8080", "a")
	serve(t, "10.99.0.3:8080", "b")

	b, err := NewIPVS(netip.MustParsePrefix("10.43.0.0/16"))
	if err != nil {
		t.Fatalf("IPVS in the VM: %v", err)
	}
	web := ServicePort{Key: "default/web:http", ClusterIP: netip.MustParseAddr("10.43.0.10"), Port: 80, Protocol: corev1.ProtocolTCP,
		NodePort: 30080, Endpoints: []Endpoint{ep("10.99.0.2:8080"), ep("10.99.0.3:8080")}}
	sticky := web
	sticky.Key, sticky.ClusterIP, sticky.Affinity, sticky.NodePort = "default/sticky:http", netip.MustParseAddr("10.43.0.12"), time.Minute, 0
	empty := ServicePort{Key: "default/empty:http", ClusterIP: netip.MustParseAddr("10.43.0.11"), Port: 80, Protocol: corev1.ProtocolTCP}
	if err := b.Sync(State{Services: []ServicePort{web, sticky, empty}}); err != nil {
		t.Fatal(err)
	}
	svcs, err := b.Client.Services()
	// web, sticky, and web's node port on each of the VM's two addresses.
	if err != nil || len(svcs) != 4 {
		t.Fatalf("the kernel's virtual services: %v, %v (want web, sticky and web's node port twice)", svcs, err)
	}
	for _, s := range svcs {
		t.Logf("virtual service %s:%d %s flags %s timeout %d", s.Address, s.Port, s.Scheduler, s.Flags, s.Timeout)
	}
	seen := map[string]int{}
	for range 20 {
		got, err := ask("10.43.0.10:80")
		if err != nil {
			t.Fatalf("through the VIP: %v", err)
		}
		seen[got]++
	}
	if seen["a"] != 10 || seen["b"] != 10 {
		t.Errorf("20 connections with round robin reached %v, want 10 each", seen)
	}
	seen = map[string]int{}
	for range 10 {
		got, err := ask("10.99.0.3:30080")
		if err != nil {
			t.Fatalf("through the node port: %v", err)
		}
		seen[got]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Errorf("10 connections to the node port reached %v, want 5 each", seen)
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
	if _, err := ask("10.43.0.11:80"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("a service without endpoints: %v, want connection refused", err)
	}
	// b goes: weight 0 at once (new connections only to a), removed once
	// its connections are gone.
	web.Endpoints = web.Endpoints[:1]
	if err := b.Sync(State{Services: []ServicePort{web}}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if got, err := ask("10.43.0.10:80"); err != nil || got != "a" {
			t.Fatalf("after b left: %q, %v", got, err)
		}
	}
	svc := ipvs.Service{Address: web.ClusterIP, Port: 80, Protocol: ipvs.TCP, Family: ipvs.INET}
	dests, _ := b.Client.Destinations(svc)
	t.Logf("destinations after b left: %s", describeDests(dests))
	if len(dests) != 2 {
		t.Fatalf("b removed at once although its closed connections still linger: %s", describeDests(dests))
	}
	// An endpoint without connections goes at the next sync after its
	// weight dropped to 0 (b's closed connections linger in IPVS for its
	// TIME_WAIT timeout, 2 minutes, which the test does not wait for).
	c := ep("10.99.0.4:8080")
	web.Endpoints = []Endpoint{web.Endpoints[0], c}
	if err := b.Sync(State{Services: []ServicePort{web}}); err != nil {
		t.Fatal(err)
	}
	web.Endpoints = web.Endpoints[:1]
	for range 2 {
		if err := b.Sync(State{Services: []ServicePort{web}}); err != nil {
			t.Fatal(err)
		}
	}
	dests, _ = b.Client.Destinations(svc)
	t.Logf("destinations after c, never used, left: %s", describeDests(dests))
	for _, d := range dests {
		if d.Address == c.IP {
			t.Fatalf("c, without connections, not removed: %s", describeDests(dests))
		}
	}
	if svcs, _ := b.Client.Services(); len(svcs) != 3 {
		t.Errorf("want web and its two node ports, have %v", svcs)
	}
	if err := b.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if svcs, _ := b.Client.Services(); len(svcs) != 0 {
		t.Errorf("after Cleanup: %v", svcs)
	}
}

func describeDests(ds []ipvs.DestinationExtended) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%s:%d w%d active %d inactive %d", d.Address, d.Port, d.Weight, d.ActiveConnections, d.InactiveConnections))
	}
	return strings.Join(parts, ", ")
}
