package volumes

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	testingclock "k8s.io/utils/clock/testing"
)

// fakeSource serves objects from maps keyed by "namespace/name"; err, when
// set, fails every read.
type fakeSource struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
	err     error
}

func (f *fakeSource) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if f.err != nil {
		return nil, f.err
	}
	if cm, ok := f.cms[ns+"/"+name]; ok {
		return cm.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f *fakeSource) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if f.err != nil {
		return nil, f.err
	}
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func newFakeSource() *fakeSource {
	return &fakeSource{
		cms: map[string]*corev1.ConfigMap{
			"default/web-config": {
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-config"},
				Data:       map[string]string{"greeting": "hello", "index.html": "<h1>hi</h1>"},
				BinaryData: map[string][]byte{"logo.png": {0x89, 'P', 'N', 'G'}},
			},
		},
		secrets: map[string]*corev1.Secret{
			"default/tls": {
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "tls"},
				Data:       map[string][]byte{"tls.crt": []byte("CERT"), "tls.key": []byte("KEY")},
			},
		},
	}
}

type fixture struct {
	m       *Manager
	src     *fakeSource
	mounter *FakeMounter
	clock   *testingclock.FakePassiveClock
	root    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{src: newFakeSource(), mounter: &FakeMounter{}, clock: testingclock.NewFakePassiveClock(t0), root: t.TempDir()}
	m, err := New(Config{Root: f.root, Source: f.src, Mounter: f.mounter, Clock: f.clock,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	return f
}

func (f *fixture) tick() { f.clock.SetTime(f.clock.Now().Add(time.Second)) }

func podWith(vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-0", UID: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"note": "say \"hi\""}},
		Spec: corev1.PodSpec{
			Volumes: vols,
			Containers: []corev1.Container{{Name: "main", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func cmVolume(name, cm string, items []corev1.KeyToPath, defMode *int32, optional *bool) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Items: items, DefaultMode: defMode, Optional: optional}}}
}

func secretVolume(name, secret string, items []corev1.KeyToPath, optional *bool) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: secret, Items: items, Optional: optional}}}
}

// files lists a volume's user-visible files (through the links): path -> content.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(rel string)
	walk = func(rel string) {
		es, err := os.ReadDir(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if strings.HasPrefix(e.Name(), "..") {
				continue
			}
			p := filepath.Join(rel, e.Name())
			fi, err := os.Stat(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			if fi.IsDir() {
				walk(p)
				continue
			}
			out[p] = readFile(t, filepath.Join(dir, p))
		}
	}
	walk("")
	return out
}

func modeOf(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func setup(t *testing.T, f *fixture, pod *corev1.Pod) map[string]string {
	t.Helper()
	paths, err := f.m.Setup(context.Background(), pod)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return paths
}

func TestConfigMapAllKeys(t *testing.T) {
	f := newFixture(t)
	paths := setup(t, f, podWith(cmVolume("config", "web-config", nil, nil, nil)))
	dir := paths["config"]
	if want := filepath.Join(f.root, "pods", "uid-1", "volumes", "configmap", "config"); dir != want {
		t.Fatalf("path = %q, want %q", dir, want)
	}
	got := files(t, dir)
	want := map[string]string{"greeting": "hello", "index.html": "<h1>hi</h1>", "logo.png": "\x89PNG"}
	if !maps.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	for k := range want {
		if m := modeOf(t, filepath.Join(dir, k)); m != 0o644 {
			t.Errorf("%s mode %v, want 0644", k, m)
		}
	}
	if len(f.mounter.Mounts()) != 0 {
		t.Errorf("a configMap volume was mounted: %v", f.mounter.Mounts())
	}
}

func TestConfigMapItemsAndModes(t *testing.T) {
	f := newFixture(t)
	items := []corev1.KeyToPath{
		{Key: "greeting", Path: "conf/greeting.txt", Mode: ptr(int32(0o600))},
		{Key: "index.html", Path: "www/index.html"},
		{Key: "logo.png", Path: "logo"},
	}
	dir := setup(t, f, podWith(cmVolume("config", "web-config", items, ptr(int32(0o440)), nil)))["config"]
	got := files(t, dir)
	want := map[string]string{"conf/greeting.txt": "hello", "www/index.html": "<h1>hi</h1>", "logo": "\x89PNG"}
	if !maps.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	for p, mode := range map[string]os.FileMode{"conf/greeting.txt": 0o600, "www/index.html": 0o440, "logo": 0o440} {
		if m := modeOf(t, filepath.Join(dir, p)); m != mode {
			t.Errorf("%s mode %v, want %v", p, m, mode)
		}
	}
	if got := readlink(t, filepath.Join(dir, "conf")); got != "..data/conf" {
		t.Errorf("conf -> %q, want ..data/conf", got)
	}
}

func TestConfigMapUpdateLandsOnResync(t *testing.T) {
	f := newFixture(t)
	pod := podWith(cmVolume("config", "web-config", nil, nil, nil))
	dir := setup(t, f, pod)["config"]
	ts := readlink(t, filepath.Join(dir, "..data"))
	reader, err := os.Open(filepath.Join(dir, "greeting"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	// A resync with nothing changed writes nothing.
	f.tick()
	setup(t, f, pod)
	if got := readlink(t, filepath.Join(dir, "..data")); got != ts {
		t.Fatalf("unchanged resync swapped ..data: %q -> %q", ts, got)
	}

	cm := f.src.cms["default/web-config"]
	cm.Data = map[string]string{"greeting": "bonjour", "new": "key"}
	cm.BinaryData = nil
	f.tick()
	setup(t, f, pod)
	if got := readlink(t, filepath.Join(dir, "..data")); got == ts {
		t.Fatal("update did not swap ..data")
	}
	if got, want := files(t, dir), map[string]string{"greeting": "bonjour", "new": "key"}; !maps.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	old := make([]byte, 16)
	n, _ := reader.Read(old)
	if string(old[:n]) != "hello" {
		t.Errorf("open reader read %q, want the old hello", old[:n])
	}
}

func TestSecretOnTmpfs(t *testing.T) {
	f := newFixture(t)
	items := []corev1.KeyToPath{{Key: "tls.key", Path: "private/key.pem", Mode: ptr(int32(0o400))}, {Key: "tls.crt", Path: "cert.pem"}}
	pod := podWith(secretVolume("certs", "tls", items, nil), secretVolume("all", "tls", nil, nil))
	paths := setup(t, f, pod)
	if got, want := files(t, paths["certs"]), map[string]string{"private/key.pem": "KEY", "cert.pem": "CERT"}; !maps.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	if m := modeOf(t, filepath.Join(paths["certs"], "private/key.pem")); m != 0o400 {
		t.Errorf("key mode %v", m)
	}
	if got, want := files(t, paths["all"]), map[string]string{"tls.key": "KEY", "tls.crt": "CERT"}; !maps.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	mounts := f.mounter.Mounts()
	for _, name := range []string{"certs", "all"} {
		p := paths[name]
		if want := filepath.Join(f.root, "pods/uid-1/volumes/secret", name); p != want {
			t.Errorf("path %q, want %q", p, want)
		}
		if _, ok := mounts[p]; !ok {
			t.Errorf("%s is not on a tmpfs: mounts %v", p, mounts)
		}
	}
	// Resync: no second mount (the fake refuses one).
	setup(t, f, pod)
}

func TestMissingObjectsAndKeys(t *testing.T) {
	tests := []struct {
		name     string
		vol      corev1.Volume
		sentinel error
		reason   string
		message  string
		files    map[string]string // when no error
	}{
		{
			name:     "missing configmap",
			vol:      cmVolume("config", "nope", nil, nil, nil),
			sentinel: ErrObjectNotFound, reason: ReasonObjectNotFound,
			message: `volume "config": configmap "nope" not found`,
		},
		{
			name:     "missing secret",
			vol:      secretVolume("certs", "nope", nil, ptr(false)),
			sentinel: ErrObjectNotFound, reason: ReasonObjectNotFound,
			message: `volume "certs": secret "nope" not found`,
		},
		{
			name:     "missing configmap key",
			vol:      cmVolume("config", "web-config", []corev1.KeyToPath{{Key: "greeting", Path: "g"}, {Key: "greting", Path: "x"}}, nil, nil),
			sentinel: ErrKeyNotFound, reason: ReasonKeyNotFound,
			message: `volume "config": key "greting" not in configmap "web-config"`,
		},
		{
			name:     "missing secret key",
			vol:      secretVolume("certs", "tls", []corev1.KeyToPath{{Key: "ca.crt", Path: "ca"}}, nil),
			sentinel: ErrKeyNotFound, reason: ReasonKeyNotFound,
			message: `volume "certs": key "ca.crt" not in secret "tls"`,
		},
		{
			name:  "optional missing configmap: empty volume",
			vol:   cmVolume("config", "nope", nil, nil, ptr(true)),
			files: map[string]string{},
		},
		{
			name:  "optional missing secret: empty volume",
			vol:   secretVolume("certs", "nope", []corev1.KeyToPath{{Key: "a", Path: "a"}}, ptr(true)),
			files: map[string]string{},
		},
		{
			name:  "optional missing key: skipped",
			vol:   cmVolume("config", "web-config", []corev1.KeyToPath{{Key: "greeting", Path: "g"}, {Key: "nope", Path: "n"}}, nil, ptr(true)),
			files: map[string]string{"g": "hello"},
		},
		{
			name:     "item path climbing out",
			vol:      cmVolume("config", "web-config", []corev1.KeyToPath{{Key: "greeting", Path: "../../etc/passwd"}}, nil, nil),
			sentinel: ErrInvalidPath, reason: ReasonInvalidPath,
			message: `volume "config": path "../../etc/passwd" must be relative, without '..' and with no element starting with '..'`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			paths, err := f.m.Setup(context.Background(), podWith(tt.vol))
			if tt.sentinel == nil {
				if err != nil {
					t.Fatalf("Setup: %v", err)
				}
				if got := files(t, paths[tt.vol.Name]); !maps.Equal(got, tt.files) {
					t.Errorf("files = %q, want %q", got, tt.files)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, tt.sentinel) {
				t.Fatalf("err = %v, want a *ConfigError wrapping %v", err, tt.sentinel)
			}
			if err.Error() != tt.message || ce.Reason != tt.reason || ce.Volume != tt.vol.Name {
				t.Errorf("err = %q (reason %q, volume %q), want %q (reason %q)", err, ce.Reason, ce.Volume, tt.message, tt.reason)
			}
			if _, ok := paths[tt.vol.Name]; ok {
				t.Error("a failed volume has a path")
			}
			if tt.sentinel == ErrObjectNotFound && !apierrors.IsNotFound(ce.Cause) {
				t.Errorf("Cause = %v, want the source's not-found error", ce.Cause)
			}
		})
	}
}

func TestSetupKeepsContentWhenObjectDisappears(t *testing.T) {
	f := newFixture(t)
	pod := podWith(cmVolume("config", "web-config", nil, nil, nil), corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	dir := setup(t, f, pod)["config"]
	delete(f.src.cms, "default/web-config")
	paths, err := f.m.Setup(context.Background(), pod)
	if !errors.Is(err, ErrObjectNotFound) {
		t.Fatalf("err = %v", err)
	}
	if _, ok := paths["scratch"]; !ok {
		t.Error("the other volume is missing from the map")
	}
	if got := readFile(t, filepath.Join(dir, "greeting")); got != "hello" {
		t.Errorf("greeting = %q, want the last content kept", got)
	}
}

func TestSourceFailureIsWrapped(t *testing.T) {
	f := newFixture(t)
	down := errors.New("connection refused")
	f.src.err = down
	_, err := f.m.Setup(context.Background(), podWith(cmVolume("config", "web-config", nil, nil, ptr(true))))
	var ce *ConfigError
	if !errors.Is(err, down) || errors.As(err, &ce) {
		t.Fatalf("err = %v, want the source's error, not a *ConfigError", err)
	}
	if want := `volume "config": get configmap default/web-config: connection refused`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestUnsupportedKinds(t *testing.T) {
	f := newFixture(t)
	pod := podWith(
		corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}},
		corev1.Volume{Name: "nfs", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "s", Path: "/"}}},
		corev1.Volume{Name: "none"},
		corev1.Volume{Name: "huge", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumHugePages}}},
		corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}},
		corev1.Volume{Name: "ok", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	paths, err := f.m.Setup(context.Background(), pod)
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{
		`volume "data": persistentVolumeClaim volumes are not supported by this agent`,
		`volume "nfs": nfs volumes are not supported by skiff`,
		`volume "none": empty volumes are not supported by skiff`,
		`volume "huge": emptyDir medium "HugePages" is not supported by skiff`,
		`volume "token": serviceAccountToken projections are not supported by skiff`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q\nwant it to contain %q", err, want)
		}
	}
	if len(paths) != 1 || paths["ok"] == "" {
		t.Errorf("paths = %v, want only ok", paths)
	}
}

func TestProjected(t *testing.T) {
	f := newFixture(t)
	vol := corev1.Volume{Name: "all-in-one", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr(int32(0o440)),
		Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"},
				Items: []corev1.KeyToPath{{Key: "greeting", Path: "config/greeting"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "pod/name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: ptr(int32(0o444))}}}},
		},
	}}}
	dir := setup(t, f, podWith(vol))["all-in-one"]
	want := map[string]string{"config/greeting": "hello", "tls.crt": "CERT", "tls.key": "KEY", "pod/name": "web-0"}
	if got := files(t, dir); !maps.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	if m := modeOf(t, filepath.Join(dir, "tls.key")); m != 0o440 {
		t.Errorf("tls.key mode %v, want the projected defaultMode 0440", m)
	}
	if m := modeOf(t, filepath.Join(dir, "pod/name")); m != 0o444 {
		t.Errorf("pod/name mode %v", m)
	}
	if _, ok := f.mounter.Mounts()[dir]; !ok {
		t.Error("a projected volume is not on a tmpfs")
	}

	// Two sources writing one path.
	vol.Projected.Sources = append(vol.Projected.Sources, corev1.VolumeProjection{
		Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"}}})
	_, err := f.m.Setup(context.Background(), podWith(vol))
	if !errors.Is(err, ErrInvalidPath) {
		t.Errorf("err = %v, want ErrInvalidPath", err)
	}
}

func TestDownwardAPI(t *testing.T) {
	f := newFixture(t)
	item := func(path, field string) corev1.DownwardAPIVolumeFile {
		return corev1.DownwardAPIVolumeFile{Path: path, FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: field}}
	}
	vol := corev1.Volume{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
		item("name", "metadata.name"),
		item("namespace", "metadata.namespace"),
		item("uid", "metadata.uid"),
		item("labels", "metadata.labels"),
		item("annotations", "metadata.annotations"),
		item("app", "metadata.labels['app']"),
		{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "main", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
	}}}}
	pod := podWith(vol)
	dir := setup(t, f, pod)["podinfo"]
	want := map[string]string{
		"name": "web-0", "namespace": "default", "uid": "uid-1",
		"labels":      "app=\"web\"\ntier=\"front\"",
		"annotations": `note="say \"hi\""`,
		"app":         "web", "mem": "64",
	}
	if got := files(t, dir); !maps.Equal(got, want) {
		t.Errorf("files = %q\nwant %q", got, want)
	}
	if _, ok := f.mounter.Mounts()[dir]; ok {
		t.Error("a downwardAPI volume was mounted")
	}

	// A label change lands on the next sync.
	pod.Labels["tier"] = "back"
	f.tick()
	setup(t, f, pod)
	if got := readFile(t, filepath.Join(dir, "labels")); got != "app=\"web\"\ntier=\"back\"" {
		t.Errorf("labels = %q", got)
	}

	for _, tt := range []struct {
		item     corev1.DownwardAPIVolumeFile
		sentinel error
	}{
		{item("ip", "status.podIP"), ErrNotSupported},
		{item("node", "spec.nodeName"), ErrNotSupported},
		{corev1.DownwardAPIVolumeFile{Path: "x", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "ghost", Resource: "limits.cpu"}}, ErrInvalidReference},
		{corev1.DownwardAPIVolumeFile{Path: "x", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}, ErrInvalidReference},
	} {
		vol.DownwardAPI.Items = []corev1.DownwardAPIVolumeFile{tt.item}
		if _, err := f.m.Setup(context.Background(), podWith(vol)); !errors.Is(err, tt.sentinel) {
			t.Errorf("item %+v: err = %v, want %v", tt.item, err, tt.sentinel)
		}
	}
}

func TestEmptyDir(t *testing.T) {
	f := newFixture(t)
	pod := podWith(
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("64Mi"))}}},
		corev1.Volume{Name: "ram", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
	)
	paths := setup(t, f, pod)
	for _, name := range []string{"scratch", "cache", "ram"} {
		p := paths[name]
		if want := filepath.Join(f.root, "pods/uid-1/volumes/emptydir", name); p != want {
			t.Errorf("%s path %q, want %q", name, p, want)
		}
		if m := modeOf(t, p); m != 0o777 {
			t.Errorf("%s mode %v, want 0777", name, m)
		}
	}
	want := map[string]int64{paths["cache"]: 64 << 20, paths["ram"]: 0}
	if got := f.mounter.Mounts(); !maps.Equal(got, want) {
		t.Errorf("mounts = %v, want %v", got, want)
	}

	// Data survives resyncs; a container's chmod is kept.
	if err := os.WriteFile(filepath.Join(paths["scratch"], "state"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(paths["scratch"], 0o700); err != nil {
		t.Fatal(err)
	}
	setup(t, f, pod)
	if got := readFile(t, filepath.Join(paths["scratch"], "state")); got != "x" {
		t.Errorf("state = %q after resync", got)
	}
	if m := modeOf(t, paths["scratch"]); m != 0o700 {
		t.Errorf("mode %v after resync, want the container's 0700", m)
	}
}

func TestHostPath(t *testing.T) {
	base := t.TempDir()
	mkdir := filepath.Join(base, "dir")
	regular := filepath.Join(base, "file")
	if err := os.Mkdir(mkdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(regular, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(base, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	missing := filepath.Join(base, "missing")

	ht := func(s corev1.HostPathType) *corev1.HostPathType { return &s }
	tests := []struct {
		name    string
		path    string
		typ     *corev1.HostPathType
		message string // "" when it succeeds
		created os.FileMode
	}{
		{name: "unset type, missing path", path: missing + "/x/", typ: nil},
		{name: "empty type", path: regular, typ: ht(corev1.HostPathUnset)},
		{name: "Directory", path: mkdir, typ: ht(corev1.HostPathDirectory)},
		{name: "Directory is a file", path: regular, typ: ht(corev1.HostPathDirectory), message: "hostPath type check failed: " + regular + " is not a directory"},
		{name: "Directory missing", path: missing, typ: ht(corev1.HostPathDirectory), message: "hostPath type check failed: " + missing + " does not exist"},
		{name: "DirectoryOrCreate exists", path: mkdir, typ: ht(corev1.HostPathDirectoryOrCreate)},
		{name: "DirectoryOrCreate creates", path: filepath.Join(base, "new/sub"), typ: ht(corev1.HostPathDirectoryOrCreate), created: os.ModeDir | 0o755},
		{name: "DirectoryOrCreate on a file", path: regular, typ: ht(corev1.HostPathDirectoryOrCreate), message: "hostPath type check failed: " + regular + " is not a directory"},
		{name: "File", path: regular, typ: ht(corev1.HostPathFile)},
		{name: "File is a dir", path: mkdir, typ: ht(corev1.HostPathFile), message: "hostPath type check failed: " + mkdir + " is not a file"},
		{name: "FileOrCreate exists", path: regular, typ: ht(corev1.HostPathFileOrCreate)},
		{name: "FileOrCreate creates", path: filepath.Join(base, "created.txt"), typ: ht(corev1.HostPathFileOrCreate), created: 0o644},
		{name: "FileOrCreate without its directory", path: filepath.Join(base, "nodir/f"), typ: ht(corev1.HostPathFileOrCreate),
			message: "hostPath type check failed: cannot create " + filepath.Join(base, "nodir/f") + ": directory " + filepath.Join(base, "nodir") + " does not exist"},
		{name: "FileOrCreate on a dir", path: mkdir, typ: ht(corev1.HostPathFileOrCreate), message: "hostPath type check failed: " + mkdir + " is not a file"},
		{name: "Socket", path: sock, typ: ht(corev1.HostPathSocket)},
		{name: "Socket is a file", path: regular, typ: ht(corev1.HostPathSocket), message: "hostPath type check failed: " + regular + " is not a socket"},
		{name: "CharDevice", path: "/dev/null", typ: ht(corev1.HostPathCharDev)},
		{name: "CharDevice is a dir", path: mkdir, typ: ht(corev1.HostPathCharDev), message: "hostPath type check failed: " + mkdir + " is not a character device"},
		{name: "BlockDevice is a char device", path: "/dev/null", typ: ht(corev1.HostPathBlockDev), message: "hostPath type check failed: /dev/null is not a block device"},
		{name: "BlockDevice missing", path: missing, typ: ht(corev1.HostPathBlockDev), message: "hostPath type check failed: " + missing + " does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			vol := corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: tt.path, Type: tt.typ}}}
			paths, err := f.m.Setup(context.Background(), podWith(vol))
			if tt.message != "" {
				var ce *ConfigError
				if !errors.As(err, &ce) || !errors.Is(err, ErrHostPathType) || ce.Reason != ReasonHostPathTypeCheck {
					t.Fatalf("err = %v, want a *ConfigError wrapping ErrHostPathType", err)
				}
				if want := `volume "host": ` + tt.message; err.Error() != want {
					t.Errorf("err = %q\nwant  %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			if paths["host"] != tt.path {
				t.Errorf("path %q, want %q as written", paths["host"], tt.path)
			}
			if tt.created != 0 {
				fi, err := os.Stat(tt.path)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode() & (os.ModeDir | os.ModePerm); got != tt.created {
					t.Errorf("created with mode %v, want %v", got, tt.created)
				}
			}
		})
	}

	// A block device, where the machine has one.
	if blk := findBlockDevice(); blk != "" {
		f := newFixture(t)
		vol := corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: blk, Type: ht(corev1.HostPathBlockDev)}}}
		if _, err := f.m.Setup(context.Background(), podWith(vol)); err != nil {
			t.Errorf("BlockDevice %s: %v", blk, err)
		}
	}

	f := newFixture(t)
	vol := corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: mkdir, Type: ht("Fifo")}}}
	if _, err := f.m.Setup(context.Background(), podWith(vol)); !errors.Is(err, ErrNotSupported) {
		t.Errorf("unknown type: err = %v, want ErrNotSupported", err)
	}
}

func findBlockDevice() string {
	es, err := os.ReadDir("/dev")
	if err != nil {
		return ""
	}
	for _, e := range es {
		if e.Type()&os.ModeDevice != 0 && e.Type()&os.ModeCharDevice == 0 {
			return filepath.Join("/dev", e.Name())
		}
	}
	return ""
}

func TestSetupRejectsBadNames(t *testing.T) {
	f := newFixture(t)
	pod := podWith(corev1.Volume{Name: "..", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	if _, err := f.m.Setup(context.Background(), pod); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("volume name ..: err = %v", err)
	}
	pod = podWith()
	pod.UID = "../etc"
	if _, err := f.m.Setup(context.Background(), pod); err == nil {
		t.Error("UID ../etc accepted")
	}
}

func TestNewRequires(t *testing.T) {
	if _, err := New(Config{Source: newFakeSource()}); err == nil {
		t.Error("New without Root succeeded")
	}
	if _, err := New(Config{Root: t.TempDir()}); err == nil {
		t.Error("New without Source succeeded")
	}
}

func TestSourceKind(t *testing.T) {
	vs := corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{}}
	if got := sourceKind(vs); got != "csi" {
		t.Errorf("sourceKind = %q", got)
	}
	if got := sourceKind(corev1.VolumeSource{}); got != "empty" {
		t.Errorf("sourceKind(empty) = %q", got)
	}
}

func TestReadOnly(t *testing.T) {
	for _, v := range allKinds() {
		want := v.ConfigMap != nil || v.Secret != nil
		if got := ReadOnly(&v); got != want {
			t.Errorf("ReadOnly(%s) = %v", v.Name, got)
		}
	}
	hp := corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}
	if ReadOnly(&hp) {
		t.Error("ReadOnly(hostPath)")
	}
}
