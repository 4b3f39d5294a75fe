package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/manifest"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// readBody reads a request body of at most MaxBodyBytes; YAML bodies are
// turned into JSON.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := readOptionalBody(w, r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("the request body is empty")
	}
	return body, nil
}

// readOptionalBody is readBody for requests whose body may be empty (an
// empty body comes back as nil).
func readOptionalBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apierrors.NewRequestEntityTooLargeError("the request body is larger than 3 MiB")
		}
		return nil, badRequest("reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if ct := r.Header.Get("Content-Type"); strings.Contains(ct, "yaml") {
		js, err := yaml.YAMLToJSONStrict(body)
		if err != nil {
			return nil, badRequest("the request body is not valid YAML: %v", err)
		}
		body = js
	}
	return body, nil
}

// decode decodes a body strictly into res's type, checking that it is of
// that kind. It returns the warnings for fields skiff does not act on.
func decode(res *resources.Resource, body []byte) (apis.Object, []string, error) {
	return decodeWith(manifest.Decode, res, body)
}

func decodeWith(dec func(*resources.Resource, []byte) (apis.Object, []string, error), res *resources.Resource, body []byte) (apis.Object, []string, error) {
	obj, warnings, err := dec(res, body)
	if errors.Is(err, manifest.ErrWrongKind) {
		return nil, nil, badRequest("%v (this path serves %s)", err, res.Plural)
	}
	if err != nil {
		return nil, nil, badRequest("%v", err)
	}
	return obj, warnings, nil
}

func invalid(res *resources.Resource, name string, obj, old apis.Object) error {
	if res.Validate == nil {
		return nil
	}
	if errs := res.Validate(obj, old); len(errs) > 0 {
		return apierrors.NewInvalid(res.GVK().GroupKind(), name, errs)
	}
	return nil
}

// parseRV reads a resourceVersion; "" is 0.
func parseRV(rv string) (uint64, error) {
	if rv == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0, badRequest("metadata.resourceVersion %q: not a resourceVersion this server issued", rv)
	}
	return v, nil
}

// current reads the stored object: from local state first (cheap), and
// linearizably when it is not there yet, so a follower does not answer
// NotFound for an object just created through another master. A stale
// read is safe because every write carries the version it was based on.
func (s *Server) current(ctx context.Context, t *target) (storage.Record, error) {
	rec, err := s.store.Get(ctx, t.res, t.namespace, t.name, true)
	if apierrors.IsNotFound(err) {
		rec, err = s.store.Get(ctx, t.res, t.namespace, t.name, false)
	}
	return rec, err
}

// stampCreate fills what the server owns on a new object.
func (s *Server) stampCreate(res *resources.Resource, obj apis.Object) {
	obj.SetUID(types.UID(s.cfg.NewUID()))
	obj.SetCreationTimestamp(metav1.NewTime(s.cfg.Now().UTC().Truncate(1e9)))
	obj.SetResourceVersion("")
	obj.SetDeletionTimestamp(nil)
	obj.SetDeletionGracePeriodSeconds(nil)
	obj.SetSelfLink("")
	obj.SetManagedFields(nil)
	if res.HasStatus {
		obj.SetGeneration(1)
		if !res.StatusOnCreate {
			clearStatus(obj)
		}
	} else {
		obj.SetGeneration(0)
	}
}

// carryOver copies onto an updated object what its writer may not change:
// identity, creation time, and (from the main endpoint) the status.
// metadata.generation moves when the spec changed.
func carryOver(res *resources.Resource, obj, cur apis.Object, keepStatus bool) {
	obj.SetUID(cur.GetUID())
	obj.SetCreationTimestamp(cur.GetCreationTimestamp())
	obj.SetDeletionTimestamp(cur.GetDeletionTimestamp())
	obj.SetDeletionGracePeriodSeconds(cur.GetDeletionGracePeriodSeconds())
	obj.SetSelfLink("")
	obj.SetManagedFields(nil)
	obj.SetGeneration(cur.GetGeneration())
	if res.HasStatus {
		if keepStatus {
			copyStatus(obj, cur)
		}
		if !sameContent(obj, cur) {
			obj.SetGeneration(cur.GetGeneration() + 1)
		}
	}
}

// statusField returns the addressable Status field of a typed object, if
// it has one. Every kind with a /status subresource is a struct with a
// Status field, as in Kubernetes.
func statusField(obj apis.Object) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.Elem().FieldByName("Status")
	return f, f.IsValid() && f.CanSet()
}

func clearStatus(obj apis.Object) {
	if f, ok := statusField(obj); ok {
		f.Set(reflect.Zero(f.Type()))
	}
}

// copyStatus sets dst's status to a deep copy of src's.
func copyStatus(dst, src apis.Object) {
	d, ok1 := statusField(dst)
	cp := src.DeepCopyObject().(apis.Object)
	c, ok2 := statusField(cp)
	if ok1 && ok2 {
		d.Set(c)
	}
}

// sameContent reports whether a and b agree on everything but metadata and
// status: whether a spec changed.
func sameContent(a, b apis.Object) bool {
	ua, err1 := runtime.DefaultUnstructuredConverter.ToUnstructured(a)
	ub, err2 := runtime.DefaultUnstructuredConverter.ToUnstructured(b)
	if err1 != nil || err2 != nil {
		return false
	}
	for _, k := range []string{"metadata", "status", "apiVersion", "kind"} {
		delete(ua, k)
		delete(ub, k)
	}
	return reflect.DeepEqual(ua, ub)
}

// sameStatus reports whether a /status write changes nothing: obj is the
// stored object with only its status replaced, so the statuses alone
// decide (comparing whole objects walked every spec on every heartbeat).
func sameStatus(obj, cur apis.Object) bool {
	a, ok1 := statusField(obj)
	b, ok2 := statusField(cur)
	return ok1 && ok2 && equality.Semantic.DeepEqual(a.Interface(), b.Interface())
}

// unchanged reports whether obj equals the stored object apart from its
// resourceVersion: such an update writes nothing, as in Kubernetes.
func unchanged(obj, cur apis.Object) bool {
	a := obj.DeepCopyObject().(apis.Object)
	a.SetResourceVersion(cur.GetResourceVersion())
	a.GetObjectKind().SetGroupVersionKind(cur.GetObjectKind().GroupVersionKind())
	// Semantic equality: quantities by value, nil and empty alike — what
	// makes two objects encode to the same JSON.
	return equality.Semantic.DeepEqual(a, cur)
}
