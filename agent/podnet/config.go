package podnet

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	cniutils "github.com/containernetworking/cni/pkg/utils"
)

// Config configures the CNI network. Start from DefaultConfig: the zero
// value of HairpinMode is false.
type Config struct {
	// BridgeName is the node's bridge, created by the bridge plugin on the
	// first Setup and left in place afterwards.
	BridgeName string
	// PodCIDR is the node's IPv4 pod subnet (e.g. 10.42.0.0/24); the
	// bridge takes its first address as the pods' gateway. Required.
	PodCIDR string
	// NetNSDir holds one namespace file per attachment, named by id. It
	// belongs to this network: GC treats every file in it as an attachment.
	NetNSDir string
	// PluginDirs are searched for the CNI plugin binaries.
	PluginDirs []string
	// IPAMDataDir is host-local's dataDir; allocations live in
	// <IPAMDataDir>/<NetworkName>/<ip>.
	IPAMDataDir string
	// MTU of the bridge and the pods' veths; 0 lets the plugin choose.
	MTU int
	// HairpinMode lets a pod reach itself through a NAT-ed address (a
	// service VIP or its own hostPort).
	HairpinMode bool
	// IPMasq masquerades pod traffic leaving the pod CIDR (the bridge
	// plugin's per-pod nat rules).
	IPMasq bool
	// NetworkName names the CNI network (and the IPAM directory).
	NetworkName string
	Logger      *slog.Logger
}

// DefaultConfig returns the daemon's defaults; PodCIDR still has to be set.
func DefaultConfig() Config {
	return Config{
		BridgeName:  "skiff0",
		NetNSDir:    "/run/skiff/netns",
		PluginDirs:  []string{"/usr/lib/cni"},
		IPAMDataDir: "/var/lib/cni/networks",
		HairpinMode: true,
		NetworkName: "skiff",
	}
}

// resolvConf is read to refuse a pod CIDR that would capture the host's DNS
// resolver.
const resolvConf = "/etc/resolv.conf"

// withDefaults fills empty fields from DefaultConfig and validates the rest.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.BridgeName == "" {
		c.BridgeName = d.BridgeName
	}
	if c.NetNSDir == "" {
		c.NetNSDir = d.NetNSDir
	}
	if len(c.PluginDirs) == 0 {
		c.PluginDirs = d.PluginDirs
	}
	if c.IPAMDataDir == "" {
		c.IPAMDataDir = d.IPAMDataDir
	}
	if c.NetworkName == "" {
		c.NetworkName = d.NetworkName
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if err := cniutils.ValidateInterfaceName(c.BridgeName); err != nil {
		return c, fmt.Errorf("%w: bridge name %q: %s", ErrInvalid, c.BridgeName, err.Msg)
	}
	if err := cniutils.ValidateNetworkName(c.NetworkName); err != nil {
		return c, fmt.Errorf("%w: network name %q: %s", ErrInvalid, c.NetworkName, err.Msg)
	}
	if c.MTU < 0 || (c.MTU > 0 && c.MTU < 576) {
		return c, fmt.Errorf("%w: MTU %d", ErrInvalid, c.MTU)
	}
	for _, p := range []*string{&c.NetNSDir, &c.IPAMDataDir} {
		if !filepath.IsAbs(*p) {
			return c, fmt.Errorf("%w: %q is not an absolute path", ErrInvalid, *p)
		}
		*p = filepath.Clean(*p)
	}
	if err := checkPodCIDR(c.PodCIDR, resolvers(resolvConf)); err != nil {
		return c, err
	}
	return c, nil
}

// checkPodCIDR accepts an IPv4 subnet with room for a gateway and pods that
// holds none of the host's resolvers: routing it onto the bridge would cut
// the host off from DNS.
func checkPodCIDR(cidr string, resolvers []net.IP) error {
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return fmt.Errorf("%w: pod CIDR %q: %v", ErrInvalid, cidr, err)
	}
	ones, bits := ipnet.Mask.Size()
	if ip.To4() == nil || bits != 32 {
		return fmt.Errorf("%w: pod CIDR %q: only IPv4 is supported", ErrInvalid, cidr)
	}
	if ones < 8 || ones > 29 {
		return fmt.Errorf("%w: pod CIDR %q: prefix must be /8 to /29", ErrInvalid, cidr)
	}
	if !ip.Equal(ipnet.IP) {
		return fmt.Errorf("%w: pod CIDR %q: host bits set (did you mean %s?)", ErrInvalid, cidr, ipnet)
	}
	for _, r := range resolvers {
		if ipnet.Contains(r) {
			return fmt.Errorf("%w: pod CIDR %s holds the host's DNS resolver %s", ErrInvalid, ipnet, r)
		}
	}
	return nil
}

// resolvers returns the nameserver addresses of a resolv.conf; a missing or
// unreadable file gives none.
func resolvers(path string) []net.IP {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []net.IP
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if ip := net.ParseIP(fields[1]); ip != nil {
				out = append(out, ip)
			}
		}
	}
	return out
}

// The conflist, as JSON. Only the fields skiff sets.
type (
	confList struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []any  `json:"plugins"`
	}
	bridgeConf struct {
		Type        string   `json:"type"`
		Bridge      string   `json:"bridge"`
		IsGateway   bool     `json:"isGateway"`
		IPMasq      bool     `json:"ipMasq"`
		HairpinMode bool     `json:"hairpinMode"`
		MTU         int      `json:"mtu,omitempty"`
		IPAM        ipamConf `json:"ipam"`
	}
	ipamConf struct {
		Type    string              `json:"type"`
		Ranges  [][]ipamRange       `json:"ranges"`
		Routes  []map[string]string `json:"routes"`
		DataDir string              `json:"dataDir"`
	}
	ipamRange struct {
		Subnet string `json:"subnet"`
	}
	portmapConf struct {
		Type         string          `json:"type"`
		Capabilities map[string]bool `json:"capabilities"`
		SNAT         bool            `json:"snat"`
	}
)

// cniVersion of the conflist; Debian's plugins 1.1.1 speak it.
const cniVersion = "1.0.0"

// confList returns the network's conflist: bridge with host-local IPAM, then
// portmap. c must have been through withDefaults.
func (c Config) confList() ([]byte, error) {
	return json.Marshal(confList{
		CNIVersion: cniVersion,
		Name:       c.NetworkName,
		Plugins: []any{
			bridgeConf{
				Type:        "bridge",
				Bridge:      c.BridgeName,
				IsGateway:   true,
				IPMasq:      c.IPMasq,
				HairpinMode: c.HairpinMode,
				MTU:         c.MTU,
				IPAM: ipamConf{
					Type:    "host-local",
					Ranges:  [][]ipamRange{{{Subnet: c.PodCIDR}}},
					Routes:  []map[string]string{{"dst": "0.0.0.0/0"}},
					DataDir: c.IPAMDataDir,
				},
			},
			portmapConf{
				Type:         "portmap",
				Capabilities: map[string]bool{"portMappings": true},
				SNAT:         true,
			},
		},
	})
}

// ipamDir is where host-local keeps this network's allocations.
func (c Config) ipamDir() string { return filepath.Join(c.IPAMDataDir, c.NetworkName) }

// netnsPath is the namespace file of id.
func (c Config) netnsPath(id string) string { return filepath.Join(c.NetNSDir, id) }
