package volumes

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// requireRoot skips a test that mounts when not root, unless CI is set:
// there a missing prerequisite is a failure, not a silent skip.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "" {
		t.Skip("skipping: mounting tmpfs needs root (run as root; with CI set this is a failure)")
	}
	t.Fatal("CI is set and this test needs root to mount tmpfs")
}

func fsType(t *testing.T, p string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Type
}

// mountsUnder lists the mount points under dir in /proc/self/mountinfo.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(unescapeMountinfo(fields[4]), dir+"/") {
			out = append(out, fields[4])
		}
	}
	return out
}

func TestHostMounterTmpfsVolumes(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	src := newFakeSource()
	m, err := New(Config{Root: root, Source: src, Logger: slog.New(slog.DiscardHandler)}) // HostMounter
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Cleanup("uid-1"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	pod := podWith(
		secretVolume("certs", "tls", nil, nil),
		corev1.Volume{Name: "ram", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("1Mi"))}}},
		cmVolume("config", "web-config", nil, nil, nil),
	)
	paths, err := m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	hm := HostMounter{}

	certs := paths["certs"]
	if got := fsType(t, certs); got != unix.TMPFS_MAGIC {
		t.Errorf("secret volume on fs type %#x, want tmpfs", got)
	}
	if ok, err := hm.IsMountPoint(certs); err != nil || !ok {
		t.Errorf("IsMountPoint(secret) = %v, %v", ok, err)
	}
	if ok, err := inMountinfo(certs); err != nil || !ok {
		t.Errorf("inMountinfo(secret) = %v, %v", ok, err)
	}
	if got := readFile(t, filepath.Join(certs, "tls.key")); got != "KEY" {
		t.Errorf("tls.key = %q", got)
	}
	if got := fsType(t, filepath.Join(certs, "..data", "tls.key")); got != unix.TMPFS_MAGIC {
		t.Errorf("secret file on fs type %#x", got)
	}

	ram := paths["ram"]
	var st unix.Statfs_t
	if err := unix.Statfs(ram, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.TMPFS_MAGIC || int64(st.Blocks)*st.Bsize != 1<<20 {
		t.Errorf("memory emptyDir: type %#x, size %d; want tmpfs of 1Mi", st.Type, int64(st.Blocks)*st.Bsize)
	}
	if m := modeOf(t, ram); m != 0o777 {
		t.Errorf("memory emptyDir mode %v, want 0777", m)
	}

	if ok, err := hm.IsMountPoint(paths["config"]); err != nil || ok {
		t.Errorf("IsMountPoint(configMap volume) = %v, %v; want false", ok, err)
	}

	// An update lands on the same tmpfs; a resync mounts nothing more.
	src.secrets["default/tls"].Data["tls.key"] = []byte("NEWKEY")
	if _, err := m.Setup(context.Background(), pod); err != nil {
		t.Fatalf("resync: %v", err)
	}
	if got := readFile(t, filepath.Join(certs, "tls.key")); got != "NEWKEY" {
		t.Errorf("tls.key = %q after update", got)
	}
	if got := mountsUnder(t, root); len(got) != 2 {
		t.Errorf("mounts under root: %q, want the secret's and the emptyDir's", got)
	}

	// Cleanup detaches lazily: a file a container holds stays readable.
	held, err := os.Open(filepath.Join(certs, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := m.Cleanup("uid-1"); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if got := mountsUnder(t, root); len(got) != 0 {
		t.Errorf("mounts left under root: %q", got)
	}
	if _, err := os.Stat(m.PodDir("uid-1")); !os.IsNotExist(err) {
		t.Errorf("pod dir still there: %v", err)
	}
	if b, err := io.ReadAll(held); err != nil || string(b) != "CERT" {
		t.Errorf("held file read %q, %v after Cleanup", b, err)
	}
}

func TestHostMounterIsMountPoint(t *testing.T) {
	hm := HostMounter{}
	for _, tt := range []struct {
		path string
		want bool
	}{
		{"/", true},
		{"/proc", true},
		{"/proc/self", false},
		{t.TempDir(), false},
		{"/does/not/exist", false},
	} {
		if got, err := hm.IsMountPoint(tt.path); err != nil || got != tt.want {
			t.Errorf("IsMountPoint(%s) = %v, %v; want %v", tt.path, got, err, tt.want)
		}
		if got, err := inMountinfo(tt.path); err != nil || got != tt.want {
			t.Errorf("inMountinfo(%s) = %v, %v; want %v", tt.path, got, err, tt.want)
		}
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:            "/plain",
		`/with\040space`:    "/with space",
		`/tab\011and\134bs`: "/tab\tand\\bs",
		`/trailing\`:        `/trailing\`,
		`/short\04`:         `/short\04`,
		`/not\999octal`:     `/not\999octal`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}
