package podnet

// Helpers for the tests that need root and the CNI plugins, and the host
// state check around the whole test binary.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testSubnet is private to these tests and clear of the host's resolver.
const testSubnet = "10.42.254.0/24"

// testGateway is the bridge's address on testSubnet.
const testGateway = "10.42.254.1"

// testPrefix starts every bridge (and network name) the tests create.
const testPrefix = "sktest"

// missingPrereq says why the real tests cannot run here, or "".
func missingPrereq() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	for _, p := range requiredPlugins {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			return "CNI plugin missing (apt-get install -y containernetworking-plugins): " + err.Error()
		}
	}
	for _, tool := range []string{"ip", "iptables-save", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " missing: " + err.Error()
		}
	}
	return ""
}

// requireHost skips when the prerequisites are missing, unless CI is set:
// then it fails.
func requireHost(t testing.TB) {
	t.Helper()
	why := missingPrereq()
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set and the prerequisite is missing: %s", why)
	}
	t.Skipf("skipping: %s (set CI=true to make this a failure)", why)
}

// newTestCNI returns a CNI on a bridge of its own (sktest<4 hex digits>, removed with
// ip link del at cleanup) over testSubnet, with temp dirs for namespaces and
// IPAM. At cleanup it also checks that no iptables rule of its network is
// left.
func newTestCNI(t testing.TB, mutate func(*Config)) *CNI {
	t.Helper()
	requireHost(t)
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := testPrefix + hex.EncodeToString(b[:])
	cfg := DefaultConfig()
	cfg.BridgeName = name
	cfg.NetworkName = name
	cfg.PodCIDR = testSubnet
	cfg.NetNSDir = filepath.Join(t.TempDir(), "netns")
	cfg.IPAMDataDir = filepath.Join(t.TempDir(), "ipam")
	if mutate != nil {
		mutate(&cfg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "link", "show", name).CombinedOutput(); err == nil {
			if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
				t.Errorf("ip link del %s: %v: %s", name, err, out)
			}
		} else if !strings.Contains(string(out), "does not exist") {
			t.Errorf("ip link show %s: %v: %s", name, err, out)
		}
		for _, table := range []string{"nat", "filter"} {
			out, err := exec.Command("iptables-save", "-t", table).CombinedOutput()
			if err != nil {
				t.Errorf("iptables-save: %v: %s", err, out)
				continue
			}
			if strings.Contains(string(out), name) {
				t.Errorf("iptables %s table still has rules of network %s:\n%s", table, name, grepLines(string(out), name))
			}
		}
	})
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setup sets id up and registers its teardown (idempotent) for cleanup.
func setup(t testing.TB, c *CNI, id string, opts SetupOptions) *Attachment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := c.Setup(ctx, id, opts)
	if err != nil {
		t.Fatalf("setup %s: %v", id, err)
	}
	t.Cleanup(func() {
		if err := c.Teardown(context.Background(), id, nil); err != nil {
			t.Errorf("cleanup teardown %s: %v", id, err)
		}
	})
	return a
}

// echoServer serves a listener: for each connection it reads one line and
// answers "<line> from <remote ip>\n". It stops at cleanup.
func echoServer(t testing.TB, ln net.Listener) {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil {
					return
				}
				host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
				fmt.Fprintf(conn, "%s from %s\n", strings.TrimSpace(line), host)
			}()
		}
	}()
}

// listenIn opens a TCP listener inside the namespace at nsPath.
func listenIn(t testing.TB, nsPath, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := InNetNS(nsPath, func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, nsPath, err)
	}
	echoServer(t, ln)
	return ln
}

// exchange dials addr, sends msg and returns the answer line.
func exchange(addr, msg string) (string, error) {
	conn, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, msg+"\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}

// freePort returns a TCP port free on the host right now.
func freePort(t testing.TB) int32 {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return int32(ln.Addr().(*net.TCPAddr).Port)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// ---- host state around the test binary ----

// portmapChains are the shared nat chains the portmap plugin creates once
// and never removes.
var portmapChains = []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"}

// hostState is what the CNI plugins change on the host beyond a test's
// bridge and temp dirs.
type hostState struct {
	ipForward     string
	natChains     []string // CNI-HOSTPORT-* chains present
	varLibCNI     bool
	cniResultsDir bool
	nft           bool     // nft is installed
	nftTables     []string // "family name"
}

func snapshotHost() (hostState, error) {
	var s hostState
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return s, err
	}
	s.ipForward = strings.TrimSpace(string(b))
	s.natChains, err = natChains()
	s.varLibCNI = fileExists("/var/lib/cni")
	s.cniResultsDir = fileExists("/var/lib/cni/results")
	if err != nil {
		return s, err
	}
	_, lookErr := exec.LookPath("nft")
	s.nft = lookErr == nil
	s.nftTables, err = nftTables()
	return s, err
}

// nftTables lists the nftables tables as "family name" ("ip nat").
func nftTables() ([]string, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, nil
	}
	out, err := exec.Command("nft", "list", "tables").Output()
	if err != nil {
		return nil, fmt.Errorf("nft list tables: %w", err)
	}
	var tables []string
	for _, l := range strings.Split(string(out), "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(l), "table "); ok {
			tables = append(tables, t)
		}
	}
	return tables, nil
}

func natChains() ([]string, error) {
	out, err := exec.Command("iptables-save", "-t", "nat").Output()
	if err != nil {
		return nil, fmt.Errorf("iptables-save: %w", err)
	}
	var chains []string
	for _, l := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(l, ":"); ok {
			name, _, _ = strings.Cut(name, " ")
			if strings.HasPrefix(name, "CNI-") {
				chains = append(chains, name)
			}
		}
	}
	return chains, nil
}

// restoreHost undoes, after all tests, what the plugins left that was not
// there before — only where nothing else on the host can be using it — and
// reports what the tests leaked.
func restoreHost(before hostState) error {
	var errs []error
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return fmt.Errorf("ip link: %w", err)
	}
	if l := grepLines(string(out), ": "+testPrefix); l != "" {
		errs = append(errs, fmt.Errorf("test bridges left:\n%s", l))
	}

	// portmap's shared chains: remove them if the tests created them and
	// no pod on the host maps a port any more.
	after, err := natChains()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if !slices.Contains(before.natChains, "CNI-HOSTPORT-DNAT") && slices.Contains(after, "CNI-HOSTPORT-DNAT") {
		rules, err := exec.Command("iptables", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("iptables -S CNI-HOSTPORT-DNAT: %w", err))
		} else if strings.Count(string(rules), "\n") <= 1 { // only "-N CNI-HOSTPORT-DNAT"
			errs = append(errs, removeNatChains(portmapChains))
		}
	}
	after, err = natChains()
	if err != nil {
		errs = append(errs, err)
	}
	for _, ch := range after {
		if !slices.Contains(before.natChains, ch) && !slices.Contains(portmapChains, ch) {
			errs = append(errs, fmt.Errorf("nat chain %s left", ch))
		}
	}

	// iptables-nft made "ip nat" (and portmap's DEL "ip6 nat") for the
	// plugins' rules: drop them if they are new and hold no rule.
	if tables, err := nftTables(); err != nil {
		errs = append(errs, err)
	} else if before.nft {
		for _, t := range []struct{ family, save string }{{"ip", "iptables-save"}, {"ip6", "ip6tables-save"}} {
			table := t.family + " nat"
			if !slices.Contains(tables, table) || slices.Contains(before.nftTables, table) {
				continue
			}
			rules, err := exec.Command(t.save, "-t", "nat").Output()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", t.save, err))
				continue
			}
			if strings.Contains(string(rules), "\n-A ") || strings.Contains(string(rules), ":CNI-") {
				errs = append(errs, fmt.Errorf("%s is not empty:\n%s", table, rules))
				continue
			}
			if out, err := exec.Command("nft", "delete", "table", t.family, "nat").CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("nft delete table %s: %v: %s", table, err, out))
			}
		}
	}

	// ip_forward: the bridge plugin turns it on. Turn it off again if it
	// was off and no bridge is left that could be routing for someone.
	if before.ipForward == "0" {
		bridges, err := exec.Command("ip", "-o", "link", "show", "type", "bridge").Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("ip link show type bridge: %w", err))
		} else if len(strings.TrimSpace(string(bridges))) == 0 {
			errs = append(errs, os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("0\n"), 0o644))
		}
	}

	// libcni's result cache: every entry of ours is gone (DEL removes it);
	// drop the directories if they are empty and the tests made them.
	if !before.cniResultsDir {
		if err := os.Remove("/var/lib/cni/results"); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("libcni cache not empty: %w", err))
		}
	}
	if !before.varLibCNI {
		if err := os.Remove("/var/lib/cni"); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("/var/lib/cni not empty: %w", err))
		}
	}
	return errors.Join(errs...)
}

// removeNatChains deletes the jumps to chains from the nat table's chains,
// then flushes and deletes them.
func removeNatChains(chains []string) error {
	out, err := exec.Command("iptables", "-t", "nat", "-S").Output()
	if err != nil {
		return fmt.Errorf("iptables -S: %w", err)
	}
	var errs []error
	for _, l := range strings.Split(string(out), "\n") {
		f := splitRule(l)
		if len(f) < 2 || f[0] != "-A" || slices.Contains(chains, f[1]) {
			continue
		}
		jump := slices.Index(f, "-j")
		if jump < 0 || jump+1 >= len(f) || !slices.Contains(chains, f[jump+1]) {
			continue
		}
		args := append([]string{"-t", "nat", "-D"}, f[1:]...)
		if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("iptables %v: %v: %s", args, err, out))
		}
	}
	for _, ch := range chains {
		_ = exec.Command("iptables", "-t", "nat", "-F", ch).Run()
	}
	for _, ch := range chains {
		if out, err := exec.Command("iptables", "-t", "nat", "-X", ch).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("iptables -X %s: %v: %s", ch, err, out))
		}
	}
	return errors.Join(errs...)
}

func TestMain(m *testing.M) {
	if missingPrereq() != "" {
		os.Exit(m.Run())
	}
	before, err := snapshotHost()
	if err != nil {
		fmt.Fprintln(os.Stderr, "podnet tests: snapshot host state:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := restoreHost(before); err != nil {
		fmt.Fprintln(os.Stderr, "podnet tests: host state after the tests:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
