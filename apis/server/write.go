package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/manifest"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// conflictRetries bounds how often an update without a resourceVersion of
// its own (a PUT without one, a patch) is retried when another writer got
// in between.
const conflictRetries = 8

func (s *Server) create(w http.ResponseWriter, r *http.Request, t *target) {
	if t.subresource != "" {
		writeError(w, methodNotAllowed(r.Method, r.URL.Path))
		return
	}
	obj, warnings, err := readObject(w, r, t)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.placeInNamespace(t, obj); err != nil {
		writeError(w, err)
		return
	}
	if obj.GetName() == "" && obj.GetGenerateName() != "" {
		obj.SetName(obj.GetGenerateName() + generateNameSuffix())
	}
	if err := s.authorizeResource(r, t, obj.GetName()); err != nil {
		writeError(w, err)
		return
	}
	s.stampCreate(t.res, obj)
	if t.res.Default != nil {
		t.res.Default(obj)
	}
	if c, ok := obj.(*corev1.PersistentVolumeClaim); ok {
		more, err := s.admitClaim(r.Context(), c)
		if err != nil {
			writeError(w, err)
			return
		}
		warnings = append(warnings, more...)
	}
	rec, err := s.createObject(r.Context(), t, obj)
	if err != nil {
		writeError(w, err)
		return
	}
	addWarnings(w, warnings)
	writeRaw(w, http.StatusCreated, rec.JSON())
}

// createObject validates and stores a new object; a Service first gets its
// cluster IP and node ports, picked again if another writer took them.
func (s *Server) createObject(ctx context.Context, t *target, obj apis.Object) (storage.Record, error) {
	avoid := map[string]bool{}
	for attempt := 0; ; attempt++ {
		next := obj
		var alloc *serviceAllocation
		if svc, ok := obj.(*corev1.Service); ok {
			svc = svc.DeepCopy()
			var err error
			if alloc, err = s.prepareService(ctx, svc, nil, avoid); err != nil {
				return nil, err
			}
			next = svc
		}
		if err := invalid(t.res, next.GetName(), next, nil); err != nil {
			return nil, err
		}
		rec, err := s.store.Create(ctx, t.res, next)
		if err != nil && alloc != nil && attempt < conflictRetries && alloc.retryable(err, next.(*corev1.Service), avoid) {
			continue
		}
		return rec, err
	}
}

// readObject reads and strictly decodes the request body as t's kind.
func readObject(w http.ResponseWriter, r *http.Request, t *target) (apis.Object, []string, error) {
	body, err := readBody(w, r)
	if err != nil {
		return nil, nil, err
	}
	if t.subresource == "status" {
		// A status write leaves the rest of the object as stored: no
		// warnings about its fields (and none of their cost on every
		// node's status report).
		return decodeWith(func(res *resources.Resource, js []byte) (apis.Object, []string, error) {
			obj, err := manifest.DecodeStrict(res, js)
			return obj, nil, err
		}, t.res, body)
	}
	return decode(t.res, body)
}

// placeInNamespace checks the object's namespace against the path.
func (s *Server) placeInNamespace(t *target, obj apis.Object) error {
	if !t.res.Namespaced {
		obj.SetNamespace("")
		return nil
	}
	if t.namespace == "" {
		return badRequest("%s are namespaced: POST to /namespaces/{namespace}/%s", t.res.Plural, t.res.Plural)
	}
	switch obj.GetNamespace() {
	case "":
		obj.SetNamespace(t.namespace)
	case t.namespace:
	default:
		return badRequest("metadata.namespace %q does not match the namespace of the request path %q", obj.GetNamespace(), t.namespace)
	}
	return nil
}

// checkIdentity checks the object's name and namespace against the path.
func (s *Server) checkIdentity(t *target, obj apis.Object) error {
	if obj.GetName() == "" {
		obj.SetName(t.name)
	}
	if obj.GetName() != t.name {
		return badRequest("metadata.name %q does not match the name in the request path %q", obj.GetName(), t.name)
	}
	return s.placeInNamespace(t, obj)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, t *target) {
	obj, warnings, err := readObject(w, r, t)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.checkIdentity(t, obj); err != nil {
		writeError(w, err)
		return
	}
	from, err := parseRV(obj.GetResourceVersion())
	if err != nil {
		writeError(w, err)
		return
	}
	rec, err := s.replace(r.Context(), t, from, func(apis.Object) (apis.Object, error) {
		return obj.DeepCopyObject().(apis.Object), nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	addWarnings(w, warnings)
	writeRaw(w, http.StatusOK, rec.JSON())
}

// replace writes the object that next computes from the stored one. With
// from == 0 it is retried on conflicts, recomputed from the new stored
// object; otherwise from is a precondition. The main endpoint keeps the
// stored status; /status keeps everything but the status.
func (s *Server) replace(ctx context.Context, t *target, from uint64, next func(cur apis.Object) (apis.Object, error)) (storage.Record, error) {
	avoid := map[string]bool{}
	for attempt := 0; ; attempt++ {
		cur, err := s.current(ctx, t)
		if err != nil {
			return nil, err
		}
		curObj := cur.Object()
		curRV, _ := parseRV(curObj.GetResourceVersion())
		if from != 0 && from != curRV {
			return nil, conflict(t, fmt.Errorf("the object has been modified (resourceVersion %d is now %d); read it again and apply your changes to the latest version", from, curRV))
		}
		obj, err := next(curObj)
		if err != nil {
			return nil, err
		}
		if t.subresource == "status" {
			withStatus := curObj.DeepCopyObject().(apis.Object)
			copyStatus(withStatus, obj)
			obj = withStatus
		} else {
			carryOver(t.res, obj, curObj, true)
		}
		obj.GetObjectKind().SetGroupVersionKind(t.res.GVK())
		if t.res.Default != nil {
			t.res.Default(obj)
		}
		var alloc *serviceAllocation
		if svc, ok := obj.(*corev1.Service); ok && t.subresource == "" {
			if alloc, err = s.prepareService(ctx, svc, curObj.(*corev1.Service), avoid); err != nil {
				return nil, err
			}
		}
		if err := nodeRestriction(ctx, t, obj, curObj); err != nil {
			return nil, err
		}
		// Validation covers metadata and spec (no rule reads a status), and
		// a /status write takes both from the stored object: checking them
		// again would cost every status report a walk of the whole object.
		if t.subresource != "status" {
			if err := invalid(t.res, t.name, obj, curObj); err != nil {
				return nil, err
			}
		}
		if t.subresource == "status" && sameStatus(obj, curObj) || t.subresource == "" && unchanged(obj, curObj) {
			return cur, nil
		}
		obj.SetResourceVersion("")
		rec, err := s.store.Update(ctx, t.res, obj, curRV)
		if apierrors.IsConflict(err) && from == 0 && attempt < conflictRetries {
			continue
		}
		if err != nil && alloc != nil && attempt < conflictRetries && alloc.retryable(err, obj.(*corev1.Service), avoid) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// Removing the last finalizer of an object being deleted deletes it.
		return storage.FinishDeletion(ctx, s.store, t.res, rec)
	}
}

// checkPropagation refuses a propagation policy Kubernetes does not know,
// or one given twice.
func checkPropagation(opts metav1.DeleteOptions) error {
	if p := opts.PropagationPolicy; p != nil {
		if opts.OrphanDependents != nil {
			return badRequest("propagationPolicy and orphanDependents cannot both be set; orphanDependents is deprecated: use propagationPolicy")
		}
		switch *p {
		case metav1.DeletePropagationOrphan, metav1.DeletePropagationBackground, metav1.DeletePropagationForeground:
		default:
			return badRequest("propagationPolicy: Unsupported value: %q: supported values: \"Orphan\", \"Background\", \"Foreground\"", *p)
		}
	}
	return nil
}

func conflict(t *target, err error) error {
	return apierrors.NewConflict(groupResource(t.res), t.name, err)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, t *target) {
	var opts metav1.DeleteOptions
	body, err := readOptionalBody(w, r)
	if err == nil && body != nil {
		if jerr := json.Unmarshal(body, &opts); jerr != nil {
			err = badRequest("the body is not DeleteOptions: %v", jerr)
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if err := checkPropagation(opts); err != nil {
		writeError(w, err)
		return
	}
	var pre storage.Preconditions
	if p := opts.Preconditions; p != nil {
		if p.UID != nil {
			pre.UID = string(*p.UID)
		}
		if p.ResourceVersion != nil {
			rv, err := parseRV(*p.ResourceVersion)
			if err != nil {
				writeError(w, err)
				return
			}
			pre.ResourceVersion = rv
		}
	}
	if rec, handled, err := s.gracefulDelete(r.Context(), t, opts, pre); handled || err != nil {
		if err != nil {
			writeError(w, err)
			return
		}
		writeRaw(w, http.StatusOK, rec.JSON())
		return
	}
	// Finalizers (the object's own, or the one carrying out an Orphan or
	// Foreground propagation policy) hold the object, marked, until their
	// owners remove them.
	fin := storage.PropagationFinalizer(opts)
	if fin != "" && !t.res.Collected {
		policy := metav1.DeletePropagationOrphan
		if fin == metav1.FinalizerDeleteDependents {
			policy = metav1.DeletePropagationForeground
		}
		addWarnings(w, []string{fmt.Sprintf("propagationPolicy %s is not carried out for %s: the garbage collector does not track their dependents; deleted in the background", policy, t.res.Plural)})
		fin = ""
	}
	rec, _, err := storage.DeleteHonouringFinalizers(r.Context(), s.store, t.res, t.namespace, t.name, pre, fin, s.cfg.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	writeRaw(w, http.StatusOK, rec.JSON())
}
