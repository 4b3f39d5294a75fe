package server

import (
	"net/http"
	"strings"

	"github.com/skiffhq/skiff/apis/auth"
	"github.com/skiffhq/skiff/apis/resources"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// target is what a resource path names.
type target struct {
	res         *resources.Resource
	namespace   string // "" = all namespaces (lists) or cluster-scoped
	name        string // "" = the collection
	subresource string // "" or "status"
}

// parsePath reads /api/v1/... and /apis/{group}/{version}/... paths. A nil
// target with a nil error means the path was a discovery document, which
// has already been written.
func (s *Server) parsePath(w http.ResponseWriter, r *http.Request) (*target, error) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var group, version string
	switch {
	case parts[0] == "api" && len(parts) >= 2:
		version, parts = parts[1], parts[2:]
	case parts[0] == "apis" && len(parts) == 2:
		if _, ok := s.resourceList(parts[1], ""); ok || s.hasGroup(parts[1]) {
			writeJSON(w, http.StatusOK, s.apiGroup(parts[1]))
			return nil, nil
		}
		return nil, notFoundPath(r)
	case parts[0] == "apis" && len(parts) >= 3:
		group, version, parts = parts[1], parts[2], parts[3:]
	default:
		return nil, notFoundPath(r)
	}
	if len(parts) == 0 {
		list, ok := s.resourceList(group, version)
		if !ok {
			return nil, notFoundPath(r)
		}
		writeJSON(w, http.StatusOK, list)
		return nil, nil
	}
	t := &target{}
	// namespaces/{ns}/{plural}/... is a namespaced path; namespaces and
	// namespaces/{name}[/status] name the Namespace kind itself.
	if parts[0] == "namespaces" && len(parts) >= 3 && parts[2] != "status" {
		t.namespace, parts = parts[1], parts[2:]
		if t.namespace == "" {
			return nil, badRequest("the namespace in the path is empty")
		}
	}
	res, ok := s.reg.ByPlural(group, version, parts[0])
	if !ok {
		return nil, notFoundPath(r)
	}
	t.res = res
	if t.namespace != "" && !res.Namespaced {
		return nil, badRequest("%s are cluster-scoped: use the path without /namespaces/%s", res.Plural, t.namespace)
	}
	switch len(parts) {
	case 1:
	case 2:
		t.name = parts[1]
	case 3:
		t.name, t.subresource = parts[1], parts[2]
		if t.subresource != "status" || !res.HasStatus {
			return nil, notFoundPath(r)
		}
	default:
		return nil, notFoundPath(r)
	}
	if t.name == "" && len(parts) > 1 {
		return nil, badRequest("the name in the path is empty")
	}
	if res.Namespaced && t.name != "" && t.namespace == "" {
		return nil, badRequest("%s are namespaced: use /namespaces/{namespace}/%s/%s", res.Plural, res.Plural, t.name)
	}
	return t, nil
}

func (s *Server) hasGroup(group string) bool {
	for _, gv := range s.reg.Groups() {
		if gv.Group == group {
			return true
		}
	}
	return false
}

func notFoundPath(r *http.Request) error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, r.Method, schema.GroupResource{}, "",
		"the server could not find the requested resource "+r.URL.Path, 0, false)
}

func groupResourceOf(a auth.Attributes) schema.GroupResource {
	return schema.GroupResource{Group: a.Group, Resource: a.Resource}
}

func groupResource(res *resources.Resource) schema.GroupResource {
	return schema.GroupResource{Group: res.Group, Resource: res.Plural}
}

// serveResource dispatches a resource request by method and path shape.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	t, err := s.parsePath(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if t == nil {
		return
	}
	// A create is authorized once its body names the object.
	if !(t.name == "" && r.Method == http.MethodPost) {
		if err := s.authorizeResource(r, t, t.name); err != nil {
			writeError(w, err)
			return
		}
	}
	if t.res.Group == MetricsGroup {
		s.serveMetrics(w, r, t)
		return
	}
	switch {
	case t.name == "" && r.Method == http.MethodGet:
		if isTrue(r.URL.Query().Get("watch")) {
			s.watch(w, r, t)
		} else {
			s.list(w, r, t)
		}
	case t.name == "" && r.Method == http.MethodPost:
		s.create(w, r, t)
	case t.name != "" && r.Method == http.MethodGet:
		s.get(w, r, t)
	case t.name != "" && r.Method == http.MethodPut:
		s.update(w, r, t)
	case t.name != "" && r.Method == http.MethodPatch:
		s.patch(w, r, t)
	case t.name != "" && r.Method == http.MethodDelete && t.subresource == "":
		s.delete(w, r, t)
	default:
		writeError(w, methodNotAllowed(r.Method, r.URL.Path))
	}
}

func isTrue(v string) bool { return v == "true" || v == "1" }
