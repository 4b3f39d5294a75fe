package manifest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/skiffhq/skiff/apis/resources"
	kjson "sigs.k8s.io/json"
)

// The fast decoder takes every example manifest and decodes it exactly as
// the thorough one does.
func TestFastDecodeMatchesStrictOnExamples(t *testing.T) {
	reg := resources.Default()
	files, _ := filepath.Glob("../../examples/*.yaml")
	more, _ := filepath.Glob("../../examples/*/*.yaml")
	files = append(files, more...)
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	n := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := Split(fh, f)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			res, ok := reg.ByKind(d.Header.Kind)
			if !ok {
				t.Fatalf("%s: kind %s", d.Source, d.Header.Kind)
			}
			fast, thorough := res.New(), res.New()
			if err := decodeFast(d.JSON, fast); err != nil {
				t.Fatalf("%s: the fast decoder refused a valid %s: %v", d.Source, d.Header.Kind, err)
			}
			if errs, err := kjson.UnmarshalStrict(d.JSON, thorough, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields); err != nil || len(errs) > 0 {
				t.Fatalf("%s: %v %v", d.Source, err, errs)
			}
			a, _ := json.Marshal(fast)
			b, _ := json.Marshal(thorough)
			if string(a) != string(b) {
				t.Fatalf("%s: decoders differ:\nfast     %s\nthorough %s", d.Source, a, b)
			}
			n++
		}
	}
	t.Logf("%d documents", n)
}

// What the strict decoder refuses, the fast one refuses too, so that the
// thorough one gets to say why.
func TestFastDecodeRefusesWhatStrictRefuses(t *testing.T) {
	reg := resources.Default()
	pod, _ := reg.ByKind("Pod")
	for name, js := range map[string]string{
		"duplicate at the top":           `{"kind":"Pod","kind":"Pod"}`,
		"duplicate in a map":             `{"metadata":{"name":"a","labels":{"x":"1","x":"2"}}}`,
		"duplicate in an array item":     `{"spec":{"containers":[{"name":"a","image":"x","image":"y"}]}}`,
		"duplicate spelt with an escape": `{"metadata":{"name":"a","n\u0061me":"b"}}`,
		"field in another case":          `{"metadata":{"Name":"a"}}`,
		"unknown field deep inside":      `{"spec":{"containers":[{"name":"a","imagee":"x"}]}}`,
		"wrong type":                     `{"spec":{"containers":"x"}}`,
		"trailing data":                  `{"metadata":{"name":"a"}} {}`,
		"not JSON":                       `{"metadata":`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := decodeFast([]byte(js), pod.New()); err == nil {
				t.Fatalf("the fast decoder took %s", js)
			}
			if _, err := DecodeStrict(pod, []byte(js)); err == nil {
				t.Fatalf("DecodeStrict took %s", js)
			}
		})
	}
}

// Keys are told apart by object: the same name in sibling objects, in
// array items, or inside string values is no duplicate.
func TestFastDecodeTakesRepeatedNamesInDifferentObjects(t *testing.T) {
	pod, _ := resources.Default().ByKind("Pod")
	for js, escapedKey := range map[string]bool{
		`{"metadata":{"name":"a","labels":{"name":"x"},"annotations":{"name":"y"}}}`:      false,
		`{"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"x"}]}}`:     false,
		`{"metadata":{"name":"a","annotations":{"x":"{\"y\":1,\"y\":2}","z":"[\"}\"]"}}}`: false,
		`{"metadata":{"name":"a","annotations":{"q\"":"1"}},"spec":{"containers":[]}}`:    true,
	} {
		fast, thorough := pod.New(), pod.New()
		if err := decodeFast([]byte(js), fast); err != nil {
			if !escapedKey {
				t.Fatalf("the fast decoder refused %s: %v", js, err)
			}
			// An escaped key sends the document to the thorough decoder,
			// which takes it.
			if _, err := DecodeStrict(pod, []byte(js)); err != nil {
				t.Fatalf("%s refused: %v", js, err)
			}
			continue
		}
		if errs, err := kjson.UnmarshalStrict([]byte(js), thorough, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields); err != nil || len(errs) > 0 {
			t.Fatalf("%s: %v %v", js, err, errs)
		}
		a, _ := json.Marshal(fast)
		b, _ := json.Marshal(thorough)
		if string(a) != string(b) {
			t.Fatalf("decoders differ on %s:\n%s\n%s", js, a, b)
		}
	}
}

// The scan never panics, whatever it is given (it runs after json-iterator
// has accepted the document, but must not rely on it).
func TestNoDuplicateFieldsTakesAnyInput(t *testing.T) {
	for _, js := range []string{"", "}", "]", ",", `"a"`, `{"a":1}}`, `]]],"x":`, `{"a`, `[{"a":1,"a":2}]`} {
		_ = noDuplicateFields([]byte(js))
	}
	if noDuplicateFields([]byte(`[{"a":1,"a":2}]`)) {
		t.Fatal("a duplicate inside an array item went unseen")
	}
}
