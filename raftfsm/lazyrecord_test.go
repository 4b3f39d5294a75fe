package raftfsm

import (
	"bytes"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// fsmWithDefaultNamespace returns an FSM holding namespace default, and a
// func that applies one command as the next entry.
func fsmWithDefaultNamespace(t *testing.T) (*FSM, func(MsgType, any) error) {
	t.Helper()
	f := newTestFSM()
	l := &testLog{t: t}
	apply := func(mt MsgType, msg any) error {
		t.Helper()
		return f.Apply(l.add(mt, msg)).(applyResponse).err
	}
	if err := apply(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("default"))}); err != nil {
		t.Fatal(err)
	}
	return f, apply
}

// A ConfigMap's record holds only its metadata decoded until something
// asks for the object; what it decodes then is what a whole decode gives.
func TestRecordsDecodeMetadataOnlyUntilAsked(t *testing.T) {
	f, apply := fsmWithDefaultNamespace(t)
	cm := configMap("default", "demo", map[string]string{"app": "web"}, "payload")
	if err := apply(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, cm)}); err != nil {
		t.Fatal(err)
	}
	rec := f.View().Record("ConfigMap", "default", "demo")
	if rec == nil || rec.obj != nil {
		t.Fatalf("record %+v: want one with its object not decoded yet", rec)
	}

	// Namespace, labels, name paging, the encoding: none needs the object.
	byLabel := Filter{Kind: "ConfigMap", Selection: storage.Selection{Namespace: "default", Labels: labels.SelectorFromSet(labels.Set{"app": "web"})}}
	if !byLabel.matches(recordView(rec)) {
		t.Fatal("label selector app=web does not match")
	}
	if !bytes.Contains(rec.JSON(), []byte(`"resourceVersion":"2"`)) {
		t.Fatalf("JSON %s lacks resourceVersion 2", rec.JSON())
	}
	if rec.obj != nil {
		t.Fatal("matching labels or encoding decoded the object")
	}

	// A field selector needs the object's fields: that decodes it.
	res, _ := resources.Default().ByKind("ConfigMap")
	byName := Filter{Kind: "ConfigMap", Selection: storage.Selection{Fields: fields.OneTermEqualSelector("metadata.name", "demo")},
		FieldSet: res.SelectableFields}
	if !byName.matches(recordView(rec)) {
		t.Fatal("field selector metadata.name=demo does not match")
	}
	want := cm.DeepCopy()
	want.ResourceVersion = "2"
	got, ok := rec.Object().(*corev1.ConfigMap)
	if !ok || !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("decoded object:\n%#v\nwant\n%#v", rec.Object(), want)
	}
	if rec.Meta().GetResourceVersion() != "2" || rec.Meta().GetLabels()["app"] != "web" {
		t.Fatalf("metadata %+v", rec.Meta())
	}

	// Preconditions read the stored metadata.
	stale := cm.DeepCopy()
	stale.Data["k"] = "changed"
	if err := apply(MsgUpdate, UpdateMsg{Kind: "ConfigMap", Object: rawJSON(t, stale), ResourceVersion: 1}); !apierrors.IsConflict(err) {
		t.Fatalf("update from resourceVersion 1: %v, want a conflict", err)
	}
	otherUID := cm.DeepCopy()
	otherUID.UID = "someone-else"
	if err := apply(MsgUpdate, UpdateMsg{Kind: "ConfigMap", Object: rawJSON(t, otherUID)}); !apierrors.IsConflict(err) {
		t.Fatalf("update with another uid: %v, want a conflict", err)
	}
	if err := apply(MsgUpdate, UpdateMsg{Kind: "ConfigMap", Object: rawJSON(t, stale), ResourceVersion: 2}); err != nil {
		t.Fatal(err)
	}
	if got := f.View().Get("ConfigMap", "default", "demo").(*corev1.ConfigMap); got.Data["k"] != "changed" || got.ResourceVersion != "5" {
		t.Fatalf("after the update: %+v", got)
	}
}

// Kinds whose indexes or checks read more than metadata, and commands
// whose JSON cannot serve as the record's, are decoded whole at once.
func TestRecordsDecodedWholeWhereNeeded(t *testing.T) {
	f, apply := fsmWithDefaultNamespace(t)
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", UID: "p-uid"},
		Spec: corev1.PodSpec{NodeName: "n1"}}
	if err := apply(MsgCreate, CreateMsg{Kind: "Pod", Object: rawJSON(t, pod)}); err != nil {
		t.Fatal(err)
	}
	if rec := f.View().Record("Pod", "default", "p"); rec.obj == nil {
		t.Fatal("a pod's record waits to decode its object; its node index needs it")
	}
	if pods := f.View().PodsOnNode("n1"); len(pods) != 1 {
		t.Fatalf("pods on n1: %d", len(pods))
	}
	// No kind in the JSON: it cannot be spliced into the record's encoding.
	noKind := configMap("default", "bare", nil, "x")
	noKind.TypeMeta = metav1.TypeMeta{}
	if err := apply(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, noKind)}); err != nil {
		t.Fatal(err)
	}
	rec := f.View().Record("ConfigMap", "default", "bare")
	if rec.obj == nil {
		t.Fatal("a command without its kind left for later decoding")
	}
	if !bytes.Contains(rec.JSON(), []byte(`"kind":"ConfigMap"`)) {
		t.Fatalf("JSON %s lacks its kind", rec.JSON())
	}
	// Bad JSON is refused as it was before.
	if err := apply(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":5}}`)}); !apierrors.IsBadRequest(err) {
		t.Fatalf("metadata.name 5: %v, want a bad request", err)
	}
}

// decodeCommandMeta stops after the metadata; what it gives must be what
// decoding the whole object gives.
func TestDecodeCommandMetaAsWholeDecode(t *testing.T) {
	ts := metav1.NewTime(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	grace := int64(30)
	rich := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "rich", UID: "u1", Generation: 3,
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": `a "quoted" } value`},
			CreationTimestamp: ts, DeletionTimestamp: &ts, DeletionGracePeriodSeconds: &grace,
			Finalizers:      []string{"example.com/keep"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "d", UID: "owner-uid"}}},
		Data: map[string]string{"metadata": `{"name":"not-this"}`},
	}
	canonical := string(rawJSON(t, rich))
	for name, raw := range map[string]string{
		"as encoding/json writes it": canonical,
		"metadata first, kind last":  `{"metadata":{"name":"m","namespace":"default","labels":{"a":"b"}},"data":{"k":"v"},"apiVersion":"v1","kind":"ConfigMap"}`,
		"no kind":                    `{"apiVersion":"v1","metadata":{"name":"m"},"data":{"kind":"Secret"}}`,
	} {
		var got commandMeta
		if err := decodeCommandMeta([]byte(raw), &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var whole corev1.ConfigMap
		if err := fastJSON.Unmarshal([]byte(raw), &whole); err != nil {
			t.Fatal(err)
		}
		if got.TypeMeta != whole.TypeMeta || !equality.Semantic.DeepEqual(got.Metadata, whole.ObjectMeta) {
			t.Errorf("%s:\n got %+v %+v\nwant %+v %+v", name, got.TypeMeta, got.Metadata, whole.TypeMeta, whole.ObjectMeta)
		}
	}
	for _, bad := range []string{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"labels":[1]}}`, `{"kind":`, `[]`} {
		if err := decodeCommandMeta([]byte(bad), &commandMeta{}); err == nil {
			t.Errorf("%s: decoded without error", bad)
		}
	}
}
