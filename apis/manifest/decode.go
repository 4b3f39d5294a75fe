package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// ErrUnknownField wraps every strict-decoding failure: a field the kind does
// not define, or a field given twice.
var ErrUnknownField = errors.New("unknown field")

// ErrWrongKind: the document is of another kind than expected.
var ErrWrongKind = errors.New("wrong kind")

// Header is what every manifest document starts with.
type Header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// Document is one manifest document converted to JSON.
type Document struct {
	JSON   []byte
	Header Header
	// Source says where the document came from ("web.yaml#2") for messages.
	Source string
}

// Split reads every document of a YAML or JSON stream. Empty documents are
// skipped; a "List" document contributes its items.
func Split(r io.Reader, source string) ([]Document, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs []Document
	for n := 1; ; n++ {
		raw, err := reader.Read()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue
		}
		src := fmt.Sprintf("%s#%d", source, n)
		js, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		more, err := fromJSON(js, src)
		if err != nil {
			return nil, err
		}
		docs = append(docs, more...)
	}
}

func fromJSON(js []byte, src string) ([]Document, error) {
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, nil
	}
	var h Header
	if err := json.Unmarshal(js, &h); err != nil {
		return nil, fmt.Errorf("%s: not an object with apiVersion and kind: %w", src, err)
	}
	if strings.HasSuffix(h.Kind, "List") {
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(js, &list); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		var out []Document
		for i, item := range list.Items {
			more, err := fromJSON(item, fmt.Sprintf("%s.items[%d]", src, i))
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		}
		return out, nil
	}
	if h.APIVersion == "" || h.Kind == "" {
		return nil, fmt.Errorf("%s: apiVersion and kind are required in every document", src)
	}
	return []Document{{JSON: js, Header: h, Source: src}}, nil
}

func stripComments(raw []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(raw, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || bytes.Equal(t, []byte("---")) {
			continue
		}
		out = append(out, line...)
	}
	return out
}

// Decode decodes JSON strictly into res's type. It returns warnings for the
// fields skiff accepts without acting on them.
func Decode(res *resources.Resource, js []byte) (apis.Object, []string, error) {
	obj, err := DecodeStrict(res, js)
	if err != nil || allActed(res) {
		return obj, nil, err
	}
	var tree any
	if err := json.Unmarshal(js, &tree); err != nil {
		return nil, nil, err
	}
	return obj, UnactedFields(res, tree), nil
}

// DecodeStrict is Decode without the warnings, for writes that cannot
// change the fields they are about (a status update).
func DecodeStrict(res *resources.Resource, js []byte) (apis.Object, error) {
	obj := res.New()
	if decodeFast(js, obj) == nil {
		if err := wrongKind(res, obj); err != nil {
			return nil, err
		}
		obj.GetObjectKind().SetGroupVersionKind(res.GVK())
		return obj, nil
	}
	obj = res.New()
	strictErrs, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if kerr := wrongKind(res, obj); kerr != nil {
		return nil, kerr
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %s", res.Kind, cleanJSONError(err))
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("%w: %s: %s", ErrUnknownField, res.Kind, strings.Join(msgs, "; "))
	}
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	return obj, nil
}

// wrongKind: apiVersion and kind come first in a manifest, so a document of
// another kind is told so rather than drowned in unknown fields.
func wrongKind(res *resources.Resource, obj apis.Object) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind != "" && gvk.Kind != res.Kind {
		return fmt.Errorf("%w: the document is a %s, not a %s", ErrWrongKind, gvk.Kind, res.Kind)
	}
	if gv := gvk.GroupVersion().String(); gvk.Kind != "" && gv != res.GroupVersion() {
		return fmt.Errorf("%w: %s is served as apiVersion %q, not %q", ErrWrongKind, res.Kind, res.GroupVersion(), gv)
	}
	return nil
}

// cleanJSONError turns Go's type errors into a field-naming message.
func cleanJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: cannot use a JSON %s here (wants %s)", te.Field, te.Value, te.Type)
	}
	return err.Error()
}
