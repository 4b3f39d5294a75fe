package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Writer is how controllers change the cluster. Every change of an existing
// object is conditional on the resourceVersion the controller read, so a
// decision made on a stale cache fails (Conflict) instead of overwriting;
// the controller's queue then retries it on a fresher cache. Errors are
// Kubernetes StatusErrors (NotFound, AlreadyExists, Conflict, Invalid).
type Writer interface {
	// Create stores a new object of kind.
	Create(ctx context.Context, kind string, obj apis.Object) (apis.Object, error)
	// Update replaces the object's metadata and spec (never its status)
	// if it is still at obj's resourceVersion.
	Update(ctx context.Context, kind string, obj apis.Object) (apis.Object, error)
	// UpdateStatus replaces the object's status (nothing else) if it is
	// still at obj's resourceVersion.
	UpdateStatus(ctx context.Context, kind string, obj apis.Object) (apis.Object, error)
	// Delete deletes the object if it still matches pre. A pod bound to a
	// node is only marked for deletion: its agent stops it, then removes it.
	Delete(ctx context.Context, kind, namespace, name string, pre storage.Preconditions) error
}

// ErrNoResourceVersion: an update without the resourceVersion it is based on.
var ErrNoResourceVersion = errors.New("an update must carry the resourceVersion it was computed from")

// StoreWriterConfig configures a StoreWriter.
type StoreWriterConfig struct {
	// Store is written directly (on the leader: raftfsm.APIStore, so each
	// write is one Raft apply) and read without a read index.
	Store    storage.Store
	Registry *resources.Registry
	Clock    clock.PassiveClock
	// NewUID makes object UIDs; default random UUIDs.
	NewUID func() string
}

// StoreWriter is the Writer of the leader's controllers. It does for their
// writes what the API server does for users' (stamping uid, creation time
// and generation; defaulting; validating; keeping status and spec apart;
// marking bound pods for graceful deletion), without the HTTP hop.
type StoreWriter struct {
	cfg StoreWriterConfig
}

var _ Writer = (*StoreWriter)(nil)

// NewStoreWriter returns a Writer over cfg.Store.
func NewStoreWriter(cfg StoreWriterConfig) *StoreWriter {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.NewUID == nil {
		cfg.NewUID = uuid.NewString
	}
	return &StoreWriter{cfg: cfg}
}

func (w *StoreWriter) resource(kind string) (*resources.Resource, error) {
	res, ok := w.cfg.Registry.ByKind(kind)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("kind %q is not served", kind))
	}
	return res, nil
}

func (w *StoreWriter) now() metav1.Time {
	return metav1.NewTime(w.cfg.Clock.Now().UTC().Truncate(time.Second))
}

func invalid(res *resources.Resource, obj, old apis.Object) error {
	if res.Validate == nil {
		return nil
	}
	if errs := res.Validate(obj, old); len(errs) > 0 {
		return apierrors.NewInvalid(res.GVK().GroupKind(), obj.GetName(), errs)
	}
	return nil
}

// Create implements Writer. The status given is stored as is (controllers
// create objects without one).
func (w *StoreWriter) Create(ctx context.Context, kind string, obj apis.Object) (apis.Object, error) {
	res, err := w.resource(kind)
	if err != nil {
		return nil, err
	}
	obj = obj.DeepCopyObject().(apis.Object)
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	if !res.Namespaced {
		obj.SetNamespace("")
	}
	obj.SetUID(types.UID(w.cfg.NewUID()))
	obj.SetCreationTimestamp(w.now())
	obj.SetResourceVersion("")
	obj.SetDeletionTimestamp(nil)
	obj.SetDeletionGracePeriodSeconds(nil)
	obj.SetManagedFields(nil)
	obj.SetGeneration(0)
	if res.HasStatus {
		obj.SetGeneration(1)
	}
	if res.Default != nil {
		res.Default(obj)
	}
	if err := invalid(res, obj, nil); err != nil {
		return nil, err
	}
	rec, err := w.cfg.Store.Create(ctx, res, obj)
	if err != nil {
		return nil, err
	}
	return rec.Object(), nil
}

// current reads the stored object obj is based on; Conflict when it moved.
func (w *StoreWriter) current(ctx context.Context, res *resources.Resource, obj apis.Object) (apis.Object, uint64, error) {
	rv, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	if err != nil || rv == 0 {
		return nil, 0, apierrors.NewBadRequest(fmt.Sprintf("%s %s: %v", res.Kind, Key(obj), ErrNoResourceVersion))
	}
	rec, err := w.cfg.Store.Get(ctx, res, obj.GetNamespace(), obj.GetName(), true)
	if err != nil {
		return nil, 0, err
	}
	cur := rec.Object()
	if cur.GetResourceVersion() != obj.GetResourceVersion() {
		return nil, 0, apierrors.NewConflict(schema.GroupResource{Group: res.Group, Resource: res.Plural}, obj.GetName(),
			fmt.Errorf("the object has been modified (resourceVersion %s is now %s)", obj.GetResourceVersion(), cur.GetResourceVersion()))
	}
	return cur, rv, nil
}

// Update implements Writer.
func (w *StoreWriter) Update(ctx context.Context, kind string, obj apis.Object) (apis.Object, error) {
	res, err := w.resource(kind)
	if err != nil {
		return nil, err
	}
	cur, rv, err := w.current(ctx, res, obj)
	if err != nil {
		return nil, err
	}
	next := obj
	if res.HasStatus {
		if next, err = splice(res, obj, cur, "status"); err != nil {
			return nil, err
		}
	} else {
		next = obj.DeepCopyObject().(apis.Object)
	}
	next.GetObjectKind().SetGroupVersionKind(res.GVK())
	next.SetUID(cur.GetUID())
	next.SetCreationTimestamp(cur.GetCreationTimestamp())
	next.SetDeletionTimestamp(cur.GetDeletionTimestamp())
	next.SetDeletionGracePeriodSeconds(cur.GetDeletionGracePeriodSeconds())
	next.SetManagedFields(nil)
	next.SetGeneration(cur.GetGeneration())
	if res.Default != nil {
		res.Default(next)
	}
	if res.HasStatus {
		same, err := sameContent(next, cur)
		if err != nil {
			return nil, err
		}
		if !same {
			next.SetGeneration(cur.GetGeneration() + 1)
		}
	}
	return w.write(ctx, res, next, cur, rv)
}

// UpdateStatus implements Writer.
func (w *StoreWriter) UpdateStatus(ctx context.Context, kind string, obj apis.Object) (apis.Object, error) {
	res, err := w.resource(kind)
	if err != nil {
		return nil, err
	}
	if !res.HasStatus {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s has no status subresource", res.Plural))
	}
	cur, rv, err := w.current(ctx, res, obj)
	if err != nil {
		return nil, err
	}
	next, err := splice(res, cur, obj, "status")
	if err != nil {
		return nil, err
	}
	return w.write(ctx, res, next, cur, rv)
}

// write stores next in place of cur (at rv); an update that changes
// nothing writes nothing, as in the API.
func (w *StoreWriter) write(ctx context.Context, res *resources.Resource, next, cur apis.Object, rv uint64) (apis.Object, error) {
	if err := invalid(res, next, cur); err != nil {
		return nil, err
	}
	next.SetResourceVersion(cur.GetResourceVersion())
	if same, err := identical(next, cur); err == nil && same {
		return cur, nil
	}
	next.SetResourceVersion("")
	rec, err := w.cfg.Store.Update(ctx, res, next, rv)
	if err != nil {
		return nil, err
	}
	// Removing the last finalizer of an object being deleted deletes it.
	if rec, err = storage.FinishDeletion(ctx, w.cfg.Store, res, rec); err != nil {
		return nil, err
	}
	return rec.Object(), nil
}

// Delete implements Writer.
func (w *StoreWriter) Delete(ctx context.Context, kind, namespace, name string, pre storage.Preconditions) error {
	res, err := w.resource(kind)
	if err != nil {
		return err
	}
	if kind == "Pod" {
		done, err := w.markPod(ctx, res, namespace, name, pre)
		if done || err != nil {
			return err
		}
	}
	_, _, err = storage.DeleteHonouringFinalizers(ctx, w.cfg.Store, res, namespace, name, pre, "", w.now().Time)
	return err
}

// markPod starts the graceful deletion of a pod bound to a node, as the API
// does (storage.MarkPodForDeletion). done is false when the pod should be
// removed at once instead; a pod already being deleted is left to its agent.
func (w *StoreWriter) markPod(ctx context.Context, res *resources.Resource, namespace, name string, pre storage.Preconditions) (done bool, err error) {
	_, did, err := storage.MarkPodForDeletion(ctx, w.cfg.Store, res, namespace, name, pre, nil, w.now().Time)
	return did != storage.DeleteNow, err
}

// splice returns base with its top-level field taken from src.
func splice(res *resources.Resource, base, src apis.Object, field string) (apis.Object, error) {
	var b, s map[string]json.RawMessage
	if err := remarshal(base, &b); err != nil {
		return nil, err
	}
	if err := remarshal(src, &s); err != nil {
		return nil, err
	}
	if v, ok := s[field]; ok {
		b[field] = v
	} else {
		delete(b, field)
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	out := res.New()
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("rebuilding %s: %w", res.Kind, err)
	}
	return out, nil
}

// sameContent reports whether a and b agree on everything but metadata and
// status: whether an update changes the spec.
func sameContent(a, b apis.Object) (bool, error) {
	var ma, mb map[string]any
	if err := remarshal(a, &ma); err != nil {
		return false, err
	}
	if err := remarshal(b, &mb); err != nil {
		return false, err
	}
	for _, k := range []string{"metadata", "status", "apiVersion", "kind"} {
		delete(ma, k)
		delete(mb, k)
	}
	return reflect.DeepEqual(ma, mb), nil
}

// identical reports whether a and b encode alike.
func identical(a, b apis.Object) (bool, error) {
	ja, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ja, jb), nil
}

func remarshal(obj apis.Object, into any) error {
	raw, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", Key(obj), err)
	}
	return json.Unmarshal(raw, into)
}
