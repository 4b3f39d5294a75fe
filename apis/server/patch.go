package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/manifest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// Patch content types, as in Kubernetes.
const (
	MergePatchType     = "application/merge-patch+json"
	StrategicPatchType = "application/strategic-merge-patch+json"
	JSONPatchType      = "application/json-patch+json"
)

func (s *Server) patch(w http.ResponseWriter, r *http.Request, t *target) {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	ct = strings.TrimSpace(ct)
	switch ct {
	case MergePatchType, StrategicPatchType, JSONPatchType:
	default:
		writeError(w, &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
			Message: "patch Content-Type " + strconv.Quote(ct) + " is not supported: use " + MergePatchType + ", " + StrategicPatchType + " or " + JSONPatchType,
		}})
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	// A patch that sets metadata.resourceVersion asks for that version.
	var meta struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if ct != JSONPatchType {
		if err := json.Unmarshal(body, &meta); err != nil {
			writeError(w, badRequest("the patch is not a JSON object: %v", err))
			return
		}
	}
	from, err := parseRV(meta.Metadata.ResourceVersion)
	if err != nil {
		writeError(w, err)
		return
	}
	// Warn about what the patch itself sets, not about the whole object.
	var warnings []string
	if ct != JSONPatchType {
		var tree any
		if json.Unmarshal(body, &tree) == nil {
			for _, w := range manifest.UnactedFields(t.res, tree) {
				if !strings.Contains(w, "$") {
					warnings = append(warnings, w)
				}
			}
		}
	}
	rec, err := s.replace(r.Context(), t, from, func(cur apis.Object) (apis.Object, error) {
		curJSON, err := json.Marshal(cur)
		if err != nil {
			return nil, err
		}
		var patched []byte
		switch ct {
		case MergePatchType:
			patched, err = jsonpatch.MergePatch(curJSON, body)
		case StrategicPatchType:
			patched, err = strategicpatch.StrategicMergePatch(curJSON, body, t.res.New())
		case JSONPatchType:
			var p jsonpatch.Patch
			if p, err = jsonpatch.DecodePatch(body); err == nil {
				patched, err = p.Apply(curJSON)
			}
		}
		if err != nil {
			return nil, badRequest("applying the patch: %v", err)
		}
		obj, _, err := decode(t.res, patched)
		if err != nil {
			return nil, err
		}
		if obj.GetName() != t.name || obj.GetNamespace() != t.namespace {
			return nil, badRequest("a patch may not change metadata.name or metadata.namespace")
		}
		return obj, nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	addWarnings(w, warnings)
	writeRaw(w, http.StatusOK, rec.JSON())
}
