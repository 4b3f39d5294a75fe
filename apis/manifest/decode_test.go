package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/apis/resources"
)

func TestSplit(t *testing.T) {
	in := `# a comment-only document
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: b}
- apiVersion: v1
  kind: Secret
  metadata: {name: c}
`
	docs, err := Split(strings.NewReader(in), "in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, d.Header.Kind+"/"+d.Header.Metadata.Name+"@"+d.Source)
	}
	want := "ConfigMap/a@in.yaml#2 ConfigMap/b@in.yaml#3.items[0] Secret/c@in.yaml#3.items[1]"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestSplitRefusesBadDocuments(t *testing.T) {
	for name, in := range map[string]string{
		"no kind":       "apiVersion: v1\nmetadata: {name: a}\n",
		"not a map":     "- a\n- b\n",
		"bad yaml":      "apiVersion: v1\nkind: [\n",
		"duplicate key": "apiVersion: v1\nkind: ConfigMap\nkind: Secret\n",
	} {
		if _, err := Split(strings.NewReader(in), "x.yaml"); err == nil || !strings.Contains(err.Error(), "x.yaml") {
			t.Errorf("%s: err = %v, want an error naming the source", name, err)
		}
	}
}

func TestDecode(t *testing.T) {
	reg := resources.Default()
	cm, _ := reg.ByKind("ConfigMap")
	pod, _ := reg.ByKind("Pod")
	cases := []struct {
		name    string
		res     *resources.Resource
		json    string
		wantErr string
		unknown bool
		warns   string
	}{
		{"ok", cm, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`, "", false, ""},
		{"typo at the top", cm, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"dat":{}}`, `"dat"`, true, ""},
		{"typo deep inside", pod, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c","imagee":"x"}]}}`, `spec.containers[0].imagee`, true, ""},
		{"duplicate field", cm, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{},"data":{}}`, `"data"`, true, ""},
		{"wrong type", cm, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":"text"}`, `data`, false, ""},
		{"known but not acted on", pod, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"x","securityContext":{"privileged":true}}]}}`, "", false, "spec.containers[0].securityContext"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj, warns, err := Decode(tc.res, []byte(tc.json))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				if errors.Is(err, ErrUnknownField) != tc.unknown {
					t.Fatalf("errors.Is(err, ErrUnknownField) = %v", !tc.unknown)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if obj.GetName() != "a" {
				t.Fatalf("name = %q", obj.GetName())
			}
			got := strings.Join(warns, "|")
			if tc.warns == "" && got != "" || tc.warns != "" && !strings.HasPrefix(got, tc.warns+":") {
				t.Fatalf("warnings = %q, want %q", got, tc.warns)
			}
		})
	}
}

func TestAllActed(t *testing.T) {
	reg := resources.Default()
	for kind, want := range map[string]bool{"ConfigMap": true, "Secret": true, "Pod": false, "Deployment": false} {
		res, _ := reg.ByKind(kind)
		if got := allActed(res); got != want {
			t.Errorf("%s: allActed = %v, want %v", kind, got, want)
		}
	}
}
