package podnet

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestCheckPodCIDR(t *testing.T) {
	resolver := []net.IP{net.ParseIP("10.255.255.53")}
	for _, tc := range []struct {
		cidr string
		ok   bool
	}{
		{"10.42.0.0/24", true},
		{"10.42.0.0/16", true},
		{"192.168.7.0/29", true},
		{"10.0.0.0/8", false},      // holds the resolver
		{"10.255.255.0/24", false}, // holds the resolver
		{"10.42.0.1/24", false},    // host bits
		{"10.42.0.0/30", false},    // no room
		{"0.0.0.0/0", false},
		{"fd00::/64", false},
		{"", false},
		{"10.42.0.0", false},
	} {
		err := checkPodCIDR(tc.cidr, resolver)
		if tc.ok && err != nil {
			t.Errorf("%q: %v", tc.cidr, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", tc.cidr, err)
		}
	}
}

func TestResolvers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, []byte("# c\nsearch x\nnameserver 10.255.255.53\nnameserver fd00::53\nnameserver bogus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := resolvers(p)
	if len(got) != 2 || got[0].String() != "10.255.255.53" || got[1].String() != "fd00::53" {
		t.Errorf("resolvers = %v", got)
	}
	if got := resolvers(filepath.Join(t.TempDir(), "missing")); got != nil {
		t.Errorf("missing file: %v", got)
	}
}

func TestConfList(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PodCIDR = "10.42.3.0/24"
	cfg.IPMasq = true
	cfg.MTU = 1450
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	b, err := cfg.confList()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(`{
		"cniVersion": "1.0.0",
		"name": "skiff",
		"plugins": [
			{"type": "bridge", "bridge": "skiff0", "isGateway": true, "ipMasq": true, "hairpinMode": true, "mtu": 1450,
			 "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.42.3.0/24"}]],
			          "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "/var/lib/cni/networks"}},
			{"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
		]}`), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("conflist\n got %s\nwant %v", b, want)
	}
	if cfg.ipamDir() != "/var/lib/cni/networks/skiff" || cfg.netnsPath("n-1") != "/run/skiff/netns/n-1" {
		t.Errorf("paths: %s %s", cfg.ipamDir(), cfg.netnsPath("n-1"))
	}
}

func TestSplitRule(t *testing.T) {
	line := `-A POSTROUTING -s 10.42.254.4/32 -m comment --comment "name: \"net\" id: \"p-1\"" -j CNI-8b9e`
	want := []string{"-A", "POSTROUTING", "-s", "10.42.254.4/32", "-m", "comment", "--comment", `name: "net" id: "p-1"`, "-j", "CNI-8b9e"}
	if got := splitRule(line); !reflect.DeepEqual(got, want) {
		t.Errorf("splitRule\n got %q\nwant %q", got, want)
	}
	if got := splitRule(`-A X --comment ""`); !reflect.DeepEqual(got, []string{"-A", "X", "--comment", ""}) {
		t.Errorf("empty quoted: %q", got)
	}
}
