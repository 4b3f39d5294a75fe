package volumes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// Directory names of volume kinds under <root>/pods/<uid>/volumes.
const (
	kindEmptyDir    = "emptydir"
	kindConfigMap   = "configmap"
	kindSecret      = "secret"
	kindProjected   = "projected"
	kindDownwardAPI = "downwardapi"
)

// Config configures a Manager. Root and Source are required.
type Config struct {
	// Root is the agent's data directory; pods' directories are
	// Root/pods/<uid>.
	Root string
	// Source reads ConfigMaps and Secrets.
	Source Source
	// Claims reads persistent volume claims and their volumes; without
	// it, persistentVolumeClaim volumes are refused.
	Claims ClaimSource
	// NodeName is this node's: a local volume pinned to another node is
	// refused.
	NodeName string
	// Logger: nil means slog.Default().
	Logger *slog.Logger
	// Mounter mounts tmpfs volumes: nil means HostMounter{}; tests give a
	// *FakeMounter.
	Mounter Mounter
	// Allocatable is the node's allocatable resources, which a downward API
	// resourceFieldRef on a limit the container does not set reads.
	Allocatable corev1.ResourceList
	// Clock names the timestamped directories; nil means the real clock.
	Clock clock.PassiveClock
}

// Manager sets up and removes pods' volumes. Its methods are safe for
// concurrent use; calls for one pod are serialized.
type Manager struct {
	root        string
	source      Source
	claims      ClaimSource
	nodeName    string
	log         *slog.Logger
	mounter     Mounter
	allocatable corev1.ResourceList
	clock       clock.PassiveClock
	locks       keyedMutex
}

// New returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Root == "" || cfg.Source == nil {
		return nil, errors.New("volumes: Root and Source are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Mounter == nil {
		cfg.Mounter = HostMounter{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Manager{
		root:        cfg.Root,
		source:      cfg.Source,
		claims:      cfg.Claims,
		nodeName:    cfg.NodeName,
		log:         cfg.Logger.With("component", "volumes"),
		mounter:     cfg.Mounter,
		allocatable: cfg.Allocatable,
		clock:       cfg.Clock,
	}, nil
}

// PodDir returns the directory of a pod's files on the node.
func (m *Manager) PodDir(podUID string) string {
	return filepath.Join(m.root, "pods", podUID)
}

func (m *Manager) volumeDir(podUID, kind, name string) string {
	return filepath.Join(m.PodDir(podUID), "volumes", kind, name)
}

// Setup prepares every volume of pod and returns each one's host path by
// volume name. It is idempotent and meant to run on every sync of the pod:
// volumes of files (configMap, secret, projected, downwardAPI) whose
// content changed are swapped atomically, and unchanged ones are not
// touched. The volumes that could not be prepared are left out of the map
// and their errors joined (errors.Join) in err; the others are ready even
// when err is not nil. A volume that cannot be prepared keeps what it last
// held. Errors the pod's author must fix are *ConfigError values.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	uid := string(pod.UID)
	if err := checkUID(uid); err != nil {
		return nil, err
	}
	unlock := m.locks.lock(uid)
	defer unlock()

	paths := make(map[string]string, len(pod.Spec.Volumes))
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, err := m.setup(ctx, pod, v)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				err = fmt.Errorf("volume %q: %w", v.Name, err)
			}
			errs = append(errs, err)
			continue
		}
		paths[v.Name] = p
	}
	return paths, errors.Join(errs...)
}

func (m *Manager) setup(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (string, error) {
	if _, ok := cleanPath(v.Name); !ok || strings.Contains(v.Name, "/") {
		return "", configError(v.Name, ErrInvalidPath, nil, "volume name %q cannot name a directory", v.Name)
	}
	var (
		kind  string
		tmpfs bool
		pl    payload
		err   error
	)
	switch {
	case v.EmptyDir != nil:
		return m.emptyDir(string(pod.UID), v)
	case v.HostPath != nil:
		return hostPath(v.Name, v.HostPath)
	case v.PersistentVolumeClaim != nil:
		return m.claim(ctx, pod, v)
	case v.ConfigMap != nil:
		kind = kindConfigMap
		pl, err = m.configMapPayload(ctx, pod, v)
	case v.Secret != nil:
		kind, tmpfs = kindSecret, true
		pl, err = m.secretPayload(ctx, pod, v)
	case v.Projected != nil:
		kind, tmpfs = kindProjected, true
		pl, err = m.projectedPayload(ctx, pod, v)
	case v.DownwardAPI != nil:
		kind = kindDownwardAPI
		pl, err = m.downwardAPIPayload(pod, v)
	default:
		return "", configError(v.Name, ErrNotSupported, nil, "%s volumes are not supported by skiff", sourceKind(v.VolumeSource))
	}
	if err != nil {
		return "", err
	}
	return m.writeVolume(pod, kind, v.Name, tmpfs, pl)
}

// writeVolume writes a volume of files into its directory, on a tmpfs
// when asked (Secrets never touch the disk).
func (m *Manager) writeVolume(pod *corev1.Pod, kind, name string, tmpfs bool, pl payload) (string, error) {
	dir := m.volumeDir(string(pod.UID), kind, name)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return "", err
	}
	if tmpfs {
		mounted, err := m.mounter.IsMountPoint(dir)
		if err != nil {
			return "", err
		}
		if !mounted {
			if err := m.mounter.Mount(dir, 0); err != nil {
				return "", err
			}
		}
	}
	changed, err := writeFiles(dir, pl, m.clock.Now())
	if changed {
		m.log.Info("volume written", "pod", pod.Namespace+"/"+pod.Name, "uid", pod.UID, "volume", name, "kind", kind, "files", len(pl))
	}
	if err != nil {
		return "", err
	}
	return dir, nil
}

// ReadOnly reports whether the containers must mount a volume read-only
// whatever their volumeMounts say, as Kubernetes does: volumes of files
// (configMap, secret, projected, downwardAPI) belong to the agent, which
// rewrites them on updates; a claim asked for readOnly is mounted so.
func ReadOnly(v *corev1.Volume) bool {
	return v.ConfigMap != nil || v.Secret != nil || v.Projected != nil || v.DownwardAPI != nil ||
		v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ReadOnly
}

// sourceKind returns the JSON name of the field set in a VolumeSource, for
// the "not supported" message; reflection keeps it right for kinds added
// to the API later.
func sourceKind(vs corev1.VolumeSource) string {
	v := reflect.ValueOf(vs)
	t := v.Type()
	for i := range t.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return "empty"
}

// checkUID refuses a pod UID that cannot be one directory's name.
func checkUID(uid string) error {
	if uid == "" || uid == "." || uid == ".." || strings.ContainsAny(uid, "/\x00") {
		return fmt.Errorf("volumes: pod UID %q cannot name a directory", uid)
	}
	return nil
}

// keyedMutex serializes work per key (pod UID).
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*refMutex{}
	}
	e := k.m[key]
	if e == nil {
		e = &refMutex{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.Lock()
	return func() {
		e.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
