package secretbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// SealedAnnotation marks a stored Secret whose data is sealed in
// Data[SealedKey]. It never reaches API clients.
const (
	SealedAnnotation = "skiff.io/sealed"
	SealedKey        = "sealed"
	// lastAppliedKey holds a copy of the applied manifest (written by
	// `skiff apply`), which for a Secret holds its values: sealed too.
	lastAppliedKey = "skiff.io/last-applied-configuration"
)

// sealedContent is what gets encrypted.
type sealedContent struct {
	Data        map[string][]byte `json:"data,omitempty"`
	LastApplied string            `json:"lastApplied,omitempty"`
}

// Store wraps a storage.Store so that Secrets are sealed below it.
type Store struct {
	inner storage.Store
	keys  *Keyring
	// Refresh fetches keys this master lacks (from the leader); it is
	// called once when a Secret was sealed with an unknown key.
	Refresh func(ctx context.Context) error
}

var _ storage.Store = (*Store)(nil)

// Wrap returns inner with Secrets sealed by keys.
func Wrap(inner storage.Store, keys *Keyring) *Store { return &Store{inner: inner, keys: keys} }

func aad(obj apis.Object) []byte { return []byte(obj.GetNamespace() + "/" + obj.GetName()) }

// Seal returns a copy of a Secret with its values encrypted.
func (s *Store) Seal(obj apis.Object) (apis.Object, error) {
	sec, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	out := sec.DeepCopy()
	content := sealedContent{Data: out.Data}
	for k, v := range out.StringData {
		if content.Data == nil {
			content.Data = map[string][]byte{}
		}
		content.Data[k] = []byte(v)
	}
	ann := out.GetAnnotations()
	if la, ok := ann[lastAppliedKey]; ok {
		content.LastApplied = la
		delete(ann, lastAppliedKey)
	}
	delete(ann, SealedAnnotation)
	plain, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	box, err := s.keys.Seal(plain, aad(out))
	if err != nil {
		return nil, err
	}
	if ann == nil {
		ann = map[string]string{}
	}
	ann[SealedAnnotation] = "v1"
	out.SetAnnotations(ann)
	out.Data = map[string][]byte{SealedKey: []byte(box)}
	out.StringData = nil
	return out, nil
}

// open returns the plaintext form of a stored Secret.
func (s *Store) open(ctx context.Context, rec storage.Record) (storage.Record, error) {
	if rec == nil || rec.Kind() != "Secret" {
		return rec, nil
	}
	sec := rec.Object().(*corev1.Secret)
	if sec.Annotations[SealedAnnotation] == "" {
		return rec, nil
	}
	box := string(sec.Data[SealedKey])
	plain, err := s.keys.Open(box, aad(sec))
	if errors.Is(err, ErrUnknownKey) && s.Refresh != nil {
		if rerr := s.Refresh(ctx); rerr != nil {
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("secret %s/%s: %v; fetching keys: %v", sec.Namespace, sec.Name, err, rerr))
		}
		plain, err = s.keys.Open(box, aad(sec))
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("secret %s/%s cannot be decrypted: %w", sec.Namespace, sec.Name, err))
	}
	var content sealedContent
	if err := json.Unmarshal(plain, &content); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	out := sec.DeepCopy()
	out.Data = content.Data
	ann := out.GetAnnotations()
	delete(ann, SealedAnnotation)
	if content.LastApplied != "" {
		ann[lastAppliedKey] = content.LastApplied
	}
	if len(ann) == 0 {
		ann = nil
	}
	out.SetAnnotations(ann)
	return newRecord("Secret", out)
}

// SealedWith returns the ID of the key a stored Secret is sealed with (""
// when it is not sealed).
func SealedWith(obj apis.Object) string {
	sec, ok := obj.(*corev1.Secret)
	if !ok || sec.Annotations[SealedAnnotation] == "" {
		return ""
	}
	return KeyOf(string(sec.Data[SealedKey]))
}

// record is a decrypted object.
type record struct {
	kind string
	obj  apis.Object
	json []byte
}

func newRecord(kind string, obj apis.Object) (*record, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return &record{kind: kind, obj: obj, json: raw}, nil
}

func (r *record) Object() apis.Object { return r.obj }
func (r *record) JSON() []byte        { return r.json }
func (r *record) Kind() string        { return r.kind }

// Get implements storage.Reader.
func (s *Store) Get(ctx context.Context, res *resources.Resource, namespace, name string, stale bool) (storage.Record, error) {
	rec, err := s.inner.Get(ctx, res, namespace, name, stale)
	if err != nil {
		return nil, err
	}
	return s.open(ctx, rec)
}

// List implements storage.Reader.
func (s *Store) List(ctx context.Context, res *resources.Resource, opts storage.ListOptions) (*storage.ListResult, error) {
	out, err := s.inner.List(ctx, res, opts)
	if err != nil || res.Kind != "Secret" {
		return out, err
	}
	for i, rec := range out.Items {
		if out.Items[i], err = s.open(ctx, rec); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Watch implements storage.Reader.
func (s *Store) Watch(ctx context.Context, res *resources.Resource, opts storage.WatchOptions) (storage.Watch, error) {
	w, err := s.inner.Watch(ctx, res, opts)
	if err != nil || res.Kind != "Secret" {
		return w, err
	}
	ow := &openWatch{inner: w, ch: make(chan storage.Event, 64), done: make(chan struct{})}
	go func() {
		defer close(ow.ch)
		for ev := range w.Events() {
			rec, err := s.open(ctx, ev.Object)
			if err != nil {
				ow.err = err
				w.Stop()
				return
			}
			ev.Object, ev.Prev = rec, nil
			select {
			case ow.ch <- ev:
			case <-ow.done:
				return
			}
		}
		ow.err = w.Err()
	}()
	return ow, nil
}

type openWatch struct {
	inner storage.Watch
	ch    chan storage.Event
	done  chan struct{}
	once  sync.Once
	err   error
}

func (w *openWatch) Events() <-chan storage.Event { return w.ch }
func (w *openWatch) Err() error                   { return w.err }
func (w *openWatch) Stop() {
	w.once.Do(func() { close(w.done) })
	w.inner.Stop()
}

// Create implements storage.Writer.
func (s *Store) Create(ctx context.Context, res *resources.Resource, obj apis.Object) (storage.Record, error) {
	sealed, err := s.Seal(obj)
	if err != nil {
		return nil, err
	}
	rec, err := s.inner.Create(ctx, res, sealed)
	if err != nil {
		return nil, err
	}
	return s.open(ctx, rec)
}

// Update implements storage.Writer.
func (s *Store) Update(ctx context.Context, res *resources.Resource, obj apis.Object, from uint64) (storage.Record, error) {
	sealed, err := s.Seal(obj)
	if err != nil {
		return nil, err
	}
	rec, err := s.inner.Update(ctx, res, sealed, from)
	if err != nil {
		return nil, err
	}
	return s.open(ctx, rec)
}

// Delete implements storage.Writer.
func (s *Store) Delete(ctx context.Context, res *resources.Resource, namespace, name string, pre storage.Preconditions) (storage.Record, error) {
	rec, err := s.inner.Delete(ctx, res, namespace, name, pre)
	if err != nil {
		return nil, err
	}
	return s.open(ctx, rec)
}

// Txn implements storage.Writer.
func (s *Store) Txn(ctx context.Context, ops []storage.Op) ([]storage.Record, error) {
	sealedOps := make([]storage.Op, len(ops))
	for i, op := range ops {
		var err error
		sealedOps[i] = op
		if op.Create != nil {
			if sealedOps[i].Create, err = s.Seal(op.Create); err != nil {
				return nil, err
			}
		}
		if op.Update != nil {
			if sealedOps[i].Update, err = s.Seal(op.Update); err != nil {
				return nil, err
			}
		}
	}
	recs, err := s.inner.Txn(ctx, sealedOps)
	if err != nil {
		return nil, err
	}
	for i, rec := range recs {
		if recs[i], err = s.open(ctx, rec); err != nil {
			return nil, err
		}
	}
	return recs, nil
}
