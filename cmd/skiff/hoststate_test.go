package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// hostNetState is what CNI plugins change on the host beyond a pod's own
// network: portmap's shared iptables chains (and the nat tables iptables-nft
// makes for them) and ip_forward (the bridge plugin turns it on).
type hostNetState struct {
	chains     []string
	nftTables  []string
	ipForward  string
	hasIPTable bool
	// sinkDevice: the service proxy's skiff-svc device (and with it the
	// service CIDR's route) was there.
	sinkDevice bool
}

var portmapChains = []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"}

func readHostNetState() hostNetState {
	var s hostNetState
	if out, err := exec.Command("iptables-save", "-t", "nat").Output(); err == nil {
		s.hasIPTable = true
		for _, c := range portmapChains {
			if strings.Contains(string(out), ":"+c+" ") {
				s.chains = append(s.chains, c)
			}
		}
	}
	if out, err := exec.Command("nft", "list", "tables").Output(); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			s.nftTables = append(s.nftTables, strings.TrimPrefix(l, "table "))
		}
	}
	s.sinkDevice = exec.Command("ip", "link", "show", "skiff-svc").Run() == nil
	raw, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	s.ipForward = strings.TrimSpace(string(raw))
	return s
}

// restoreHostNetState undoes what the test's pods made the plugins change,
// keeping whatever was there before it.
func restoreHostNetState(t *testing.T, before hostNetState) {
	if !before.sinkDevice {
		exec.Command("ip", "link", "del", "skiff-svc").Run()
	}
	if !before.hasIPTable {
		return
	}
	if !slices.Contains(before.chains, "CNI-HOSTPORT-DNAT") {
		for _, rule := range [][]string{
			{"PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"},
			{"OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"},
			{"POSTROUTING", "-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", "CNI-HOSTPORT-MASQ"},
		} {
			exec.Command("iptables", append([]string{"-t", "nat", "-D"}, rule...)...).Run()
		}
		for _, c := range portmapChains {
			if slices.Contains(before.chains, c) {
				continue
			}
			exec.Command("iptables", "-t", "nat", "-F", c).Run()
			exec.Command("iptables", "-t", "nat", "-X", c).Run()
		}
	}
	// iptables-nft made the nat tables for portmap: drop them when empty.
	after := readHostNetState()
	for _, table := range []struct{ nft, save string }{{"ip nat", "iptables-save"}, {"ip6 nat", "ip6tables-save"}} {
		if slices.Contains(before.nftTables, table.nft) || !slices.Contains(after.nftTables, table.nft) {
			continue
		}
		out, err := exec.Command(table.save, "-t", "nat").Output()
		if err != nil || strings.Contains(string(out), "\n-A ") {
			continue // rules someone else put there
		}
		family, name, _ := strings.Cut(table.nft, " ")
		exec.Command("nft", "delete", "table", family, name).Run()
	}
	if before.ipForward != "" && before.ipForward != after.ipForward {
		if out, _ := exec.Command("ip", "-br", "link", "show", "type", "bridge").Output(); strings.TrimSpace(string(out)) == "" {
			os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte(before.ipForward), 0o644)
		}
	}
	if left := readHostNetState(); len(left.chains) > len(before.chains) {
		t.Logf("portmap chains left on the host: %v", left.chains)
	}
}
