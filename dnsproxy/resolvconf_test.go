package dnsproxy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestUpstreamsFromResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	const conf = `# generated
search default.svc.cluster.local example.org
nameserver 127.0.0.53
nameserver 192.0.2.1 # primary
; a comment
nameserver   2001:db8::1
nameserver fe80::1%eth0
nameserver 192.0.2.1
nameserver not-an-address
nameserver
options ndots:5
`
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := UpstreamsFromResolvConf(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.53:53", "192.0.2.1:53", "[2001:db8::1]:53", "[fe80::1%eth0]:53"}
	if !slices.Equal(got, want) {
		t.Errorf("upstreams %q, want %q", got, want)
	}

	// Only when asked, systemd-resolved's stub goes.
	if got := WithoutResolvedStub(append(got, "127.0.0.54:53", "127.0.0.1:53")); !slices.Equal(got,
		[]string{"192.0.2.1:53", "[2001:db8::1]:53", "[fe80::1%eth0]:53", "127.0.0.1:53"}) {
		t.Errorf("WithoutResolvedStub: %q", got)
	}

	if _, err := UpstreamsFromResolvConf(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("no error for a missing file")
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("search example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := UpstreamsFromResolvConf(empty); err != nil || len(got) != 0 {
		t.Errorf("file without nameservers: %q, %v", got, err)
	}
}

// The upstreams it returns are accepted by NewServer as they are.
func TestResolvConfUpstreamsAreValidConfig(t *testing.T) {
	_, err := NewServer(Config{Table: NewTable(""), Upstreams: []string{"[fe80::1%eth0]:53", "192.0.2.1:53"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
}
