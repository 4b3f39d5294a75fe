package volumes

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// fakeClaims serves claims ("namespace/name") and volumes from maps.
type fakeClaims struct {
	claims  map[string]*corev1.PersistentVolumeClaim
	volumes map[string]*corev1.PersistentVolume
}

func (f fakeClaims) PersistentVolumeClaim(_ context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	if c, ok := f.claims[ns+"/"+name]; ok {
		return c.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "persistentvolumeclaims"}, name)
}

func (f fakeClaims) PersistentVolume(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	if v, ok := f.volumes[name]; ok {
		return v.DeepCopy(), nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "persistentvolumes"}, name)
}

func claimVolume(claim string) corev1.Volume {
	return corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}
}

func TestClaimVolumes(t *testing.T) {
	root := t.TempDir()
	existing := filepath.Join(root, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	claim := func(name, volume string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("c-uid-" + name)},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume}}
	}
	local := func(name, claimName, node, path string, provisioned bool) *corev1.PersistentVolume {
		pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}, Annotations: map[string]string{}},
			Spec: corev1.PersistentVolumeSpec{ClaimRef: &corev1.ObjectReference{Namespace: "default", Name: claimName, UID: types.UID("c-uid-" + claimName)},
				PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}}}}
		if node != "" {
			pv.Labels[apis.LabelVolumeNode] = node
		}
		if provisioned {
			pv.Annotations[apis.AnnotationProvisionedBy] = apis.LocalPathProvisioner
		}
		return pv
	}
	src := fakeClaims{
		claims: map[string]*corev1.PersistentVolumeClaim{
			"default/new":       claim("new", "pvc-new"),
			"default/static":    claim("static", "pv-static"),
			"default/gone":      claim("gone", "pv-missing"),
			"default/unbound":   claim("unbound", ""),
			"default/elsewhere": claim("elsewhere", "pvc-elsewhere"),
			"default/absent":    claim("absent", "pv-absent-dir"),
			"default/stolen":    claim("stolen", "pv-other"),
		},
		volumes: map[string]*corev1.PersistentVolume{
			"pvc-new":       local("pvc-new", "new", "n1", filepath.Join(root, "storage", "pvc-new_default_new"), true),
			"pv-static":     local("pv-static", "static", "", existing, false),
			"pvc-elsewhere": local("pvc-elsewhere", "elsewhere", "n2", filepath.Join(root, "x"), true),
			"pv-absent-dir": local("pv-absent-dir", "absent", "", filepath.Join(root, "nothing"), false),
			"pv-other":      local("pv-other", "someone-else", "", existing, false),
		},
	}
	m, err := New(Config{Root: t.TempDir(), Source: newFakeSource(), Claims: src, NodeName: "n1", Mounter: &FakeMounter{},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		claim    string
		path     string // the host path, when it works
		sentinel error  // a *ConfigError's, when the pod's author must act
		message  string // else the transient error's text
	}{
		{claim: "new", path: filepath.Join(root, "storage", "pvc-new_default_new")},
		{claim: "static", path: existing},
		{claim: "nope", sentinel: ErrObjectNotFound, message: `volume "data": persistentvolumeclaim "nope" not found`},
		{claim: "gone", sentinel: ErrObjectNotFound, message: `volume "data": persistentvolume "pv-missing" of claim "gone" not found`},
		{claim: "elsewhere", sentinel: ErrObjectNotFound, message: `volume "data": persistentvolume "pvc-elsewhere" lives on node n2, not here`},
		{claim: "absent", sentinel: ErrHostPathType, message: `volume "data": local volume "pv-absent-dir": ` + filepath.Join(root, "nothing") + ` is not a directory on this node`},
		{claim: "unbound", message: `persistentvolumeclaim "unbound" is not bound to a volume yet`},
		{claim: "stolen", message: `persistentvolume "pv-other" is not bound to claim "stolen" yet`},
	}
	for _, tt := range tests {
		t.Run(tt.claim, func(t *testing.T) {
			paths, err := m.Setup(context.Background(), podWith(claimVolume(tt.claim)))
			if tt.path != "" {
				if err != nil || paths["data"] != tt.path {
					t.Fatalf("path %q, err %v; want %q", paths["data"], err, tt.path)
				}
				fi, err := os.Stat(tt.path)
				if err != nil || !fi.IsDir() {
					t.Fatalf("not a directory: %v", err)
				}
				return
			}
			var ce *ConfigError
			switch {
			case err == nil:
				t.Fatal("no error")
			case tt.sentinel != nil && (!errors.As(err, &ce) || !errors.Is(err, tt.sentinel) || err.Error() != tt.message):
				t.Fatalf("err = %v, want a *ConfigError %q", err, tt.message)
			case tt.sentinel == nil && (errors.As(err, &ce) || !strings.HasSuffix(err.Error(), tt.message)):
				t.Fatalf("err = %v, want a transient error ending %q", err, tt.message)
			}
		})
	}
	// A provisioned directory is writable by any user.
	fi, _ := os.Stat(filepath.Join(root, "storage", "pvc-new_default_new"))
	if fi.Mode().Perm() != 0o777 {
		t.Errorf("mode %v, want 0777", fi.Mode().Perm())
	}
}

func TestClaimReadOnly(t *testing.T) {
	v := claimVolume("data")
	if ReadOnly(&v) {
		t.Error("a claim mounted read-only without asking")
	}
	v.PersistentVolumeClaim.ReadOnly = true
	if !ReadOnly(&v) {
		t.Error("persistentVolumeClaim.readOnly not honoured")
	}
}
