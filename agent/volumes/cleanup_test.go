package volumes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func allKinds() []corev1.Volume {
	return []corev1.Volume{
		cmVolume("config", "web-config", nil, nil, nil),
		secretVolume("certs", "tls", nil, nil),
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "ram", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
	}
}

func TestCleanup(t *testing.T) {
	f := newFixture(t)
	pod := podWith(allKinds()...)
	setup(t, f, pod)
	if n := len(f.mounter.Mounts()); n != 2 {
		t.Fatalf("%d mounts, want 2", n)
	}
	// Something else the agent keeps in the pod's directory.
	if err := os.WriteFile(filepath.Join(f.m.PodDir("uid-1"), "hosts"), []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Cleanup("uid-1"); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if got := f.mounter.Mounts(); len(got) != 0 {
		t.Errorf("mounts left: %v", got)
	}
	if _, err := os.Stat(f.m.PodDir("uid-1")); !os.IsNotExist(err) {
		t.Errorf("pod dir still there: %v", err)
	}
	// Again, and for a pod never seen: nothing to do.
	if err := f.m.Cleanup("uid-1"); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
	if err := f.m.Cleanup("never"); err != nil {
		t.Errorf("Cleanup of an unknown pod: %v", err)
	}
	if err := f.m.Cleanup("../x"); err == nil {
		t.Error("Cleanup(../x) accepted")
	}
}

func TestCleanupRefusesToCrossAMount(t *testing.T) {
	f := newFixture(t)
	setup(t, f, podWith(allKinds()...))
	// A mount deeper than a volume's own directory (say a bind mount a
	// container runtime left inside an emptyDir): Cleanup does not unmount
	// it and must not remove what is under it.
	inner := filepath.Join(f.m.PodDir("uid-1"), "volumes/emptydir/scratch/host")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	precious := filepath.Join(inner, "precious")
	if err := os.WriteFile(precious, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.mounter.Mount(inner, 0); err != nil {
		t.Fatal(err)
	}
	err := f.m.Cleanup("uid-1")
	if !errors.Is(err, ErrStillMounted) {
		t.Fatalf("err = %v, want ErrStillMounted", err)
	}
	if _, err := os.Stat(precious); err != nil {
		t.Errorf("a file under the mount was removed: %v", err)
	}
}

func TestCleanupUnmountFailure(t *testing.T) {
	f := newFixture(t)
	setup(t, f, podWith(allKinds()...))
	busy := errors.New("device busy")
	f.mounter.UnmountErr = busy
	if err := f.m.Cleanup("uid-1"); !errors.Is(err, busy) {
		t.Fatalf("err = %v, want the unmount error", err)
	}
	if _, err := os.Stat(f.m.PodDir("uid-1")); err != nil {
		t.Errorf("pod dir removed although a volume is still mounted: %v", err)
	}
	f.mounter.UnmountErr = nil
	if err := f.m.Cleanup("uid-1"); err != nil {
		t.Fatalf("Cleanup once unmounting works: %v", err)
	}
}

func TestMountFailure(t *testing.T) {
	f := newFixture(t)
	f.mounter.MountErr = errors.New("permission denied")
	_, err := f.m.Setup(context.Background(), podWith(secretVolume("certs", "tls", nil, nil)))
	if !errors.Is(err, f.mounter.MountErr) {
		t.Fatalf("err = %v", err)
	}
	if want := `volume "certs": permission denied`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	// Nothing was written to the disk.
	if got := files(t, filepath.Join(f.m.PodDir("uid-1"), "volumes/secret/certs")); len(got) != 0 {
		t.Errorf("secret files written without their tmpfs: %v", got)
	}
}

func TestOrphans(t *testing.T) {
	f := newFixture(t)
	if got, err := f.m.Orphans(nil); err != nil || got != nil {
		t.Fatalf("Orphans without a pods dir = %v, %v", got, err)
	}
	for _, uid := range []string{"a", "b", "c"} {
		pod := podWith(allKinds()...)
		pod.UID = types.UID(uid)
		setup(t, f, pod)
	}
	got, err := f.m.Orphans(map[string]bool{"b": true, "z": true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "c"}; !slices.Equal(got, want) {
		t.Errorf("Orphans = %q, want %q", got, want)
	}
	if err := f.m.CleanupOrphans(map[string]bool{"b": true}); err != nil {
		t.Fatalf("CleanupOrphans: %v", err)
	}
	got, err = f.m.Orphans(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b"}; !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
	if n := len(f.mounter.Mounts()); n != 2 {
		t.Errorf("%d mounts left, want b's 2", n)
	}
}

func TestConcurrentSetupAndCleanup(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pod := podWith(allKinds()...)
			pod.UID = types.UID([]string{"p", "q"}[i%2])
			for range 5 {
				if _, err := f.m.Setup(context.Background(), pod); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, uid := range []string{"p", "q"} {
		if err := f.m.Cleanup(uid); err != nil {
			t.Error(err)
		}
	}
	if got := f.mounter.Mounts(); len(got) != 0 {
		t.Errorf("mounts left: %v", got)
	}
	if len(f.m.locks.m) != 0 {
		t.Errorf("locks left: %v", f.m.locks.m)
	}
}
