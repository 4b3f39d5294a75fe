package raftfsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// testLog builds raft log entries from commands, numbering them from 1.
type testLog struct {
	t     *testing.T
	index uint64
	logs  []*raft.Log
}

func (l *testLog) add(mt MsgType, msg any) *raft.Log {
	l.t.Helper()
	cmd, err := Encode(mt, msg)
	if err != nil {
		l.t.Fatal(err)
	}
	l.index++
	entry := &raft.Log{Index: l.index, Term: 1, Type: raft.LogCommand, Data: cmd}
	l.logs = append(l.logs, entry)
	return entry
}

func rawJSON(t *testing.T, obj any) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("ns-" + nameUID(name))}}
}

func nameUID(s string) string { return strings.ReplaceAll(s, "/", "-") }

func configMap(ns, name string, lbls map[string]string, data string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls, UID: types.UID("cm-" + nameUID(ns+"/"+name))},
		Data:       map[string]string{"k": data},
	}
}

func newTestFSM() *FSM {
	return NewFSM(FSMConfig{Registry: resources.Default(), History: 16, WatchBuffer: 8})
}

func respErr(t *testing.T, out any) error {
	t.Helper()
	r, ok := out.(applyResponse)
	if !ok {
		t.Fatalf("response is %T", out)
	}
	return r.err
}

func TestCreateUpdateDeleteAndPreconditions(t *testing.T) {
	f := newTestFSM()
	l := &testLog{t: t}
	mustApply := func(e *raft.Log) applyResponse {
		t.Helper()
		return f.Apply(e).(applyResponse)
	}
	if r := mustApply(l.add(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("default"))})); r.err != nil {
		t.Fatal(r.err)
	}
	cm := configMap("default", "demo", nil, "1")
	r := mustApply(l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, cm)}))
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := r.result.Records[0].Object().GetResourceVersion(); got != "2" {
		t.Fatalf("resourceVersion = %q, want the raft index 2", got)
	}
	// A second create of the same name fails and changes nothing.
	if r := mustApply(l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, cm)})); !apierrors.IsAlreadyExists(r.err) {
		t.Fatalf("duplicate create: err = %v, want AlreadyExists", r.err)
	}
	// Update with a stale precondition is a conflict.
	cm.Data["k"] = "2"
	if r := mustApply(l.add(MsgUpdate, UpdateMsg{Kind: "ConfigMap", Object: rawJSON(t, cm), ResourceVersion: 1})); !apierrors.IsConflict(r.err) {
		t.Fatalf("stale update: err = %v, want Conflict", r.err)
	}
	if got := f.View().Get("ConfigMap", "default", "demo").(*corev1.ConfigMap).Data["k"]; got != "1" {
		t.Fatalf("a refused update changed the object: k=%q", got)
	}
	// With the right precondition it applies.
	r = mustApply(l.add(MsgUpdate, UpdateMsg{Kind: "ConfigMap", Object: rawJSON(t, cm), ResourceVersion: 2}))
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := f.View().Get("ConfigMap", "default", "demo").(*corev1.ConfigMap).Data["k"]; got != "2" {
		t.Fatalf("k = %q after update", got)
	}
	// Delete with a wrong UID precondition fails, then succeeds.
	if r := mustApply(l.add(MsgDelete, DeleteMsg{Kind: "ConfigMap", Namespace: "default", Name: "demo", UID: "other"})); !apierrors.IsConflict(r.err) {
		t.Fatalf("delete with wrong uid: err = %v, want Conflict", r.err)
	}
	if r := mustApply(l.add(MsgDelete, DeleteMsg{Kind: "ConfigMap", Namespace: "default", Name: "demo"})); r.err != nil {
		t.Fatal(r.err)
	}
	if f.View().Get("ConfigMap", "default", "demo") != nil {
		t.Fatal("object still there after delete")
	}
	// Objects in a namespace that does not exist are refused.
	if r := mustApply(l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, configMap("nope", "x", nil, ""))})); !apierrors.IsNotFound(r.err) {
		t.Fatalf("create in missing namespace: err = %v, want NotFound", r.err)
	}
}

func TestTxnIsAllOrNothing(t *testing.T) {
	f := newTestFSM()
	l := &testLog{t: t}
	f.Apply(l.add(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("default"))}))
	txn := TxnMsg{Ops: []TxnOp{
		{Create: &CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, configMap("default", "a", nil, ""))}},
		{Delete: &DeleteMsg{Kind: "ConfigMap", Namespace: "default", Name: "missing"}},
	}}
	if err := respErr(t, f.Apply(l.add(MsgTxn, txn))); !apierrors.IsNotFound(err) {
		t.Fatalf("txn err = %v, want NotFound", err)
	}
	if f.View().Get("ConfigMap", "default", "a") != nil {
		t.Fatal("a failed transaction left its first operation applied")
	}
	txn.Ops = txn.Ops[:1]
	if err := respErr(t, f.Apply(l.add(MsgTxn, txn))); err != nil {
		t.Fatal(err)
	}
	if f.View().Get("ConfigMap", "default", "a") == nil {
		t.Fatal("transaction not applied")
	}
}

func TestNamespaceDeleteRemovesContents(t *testing.T) {
	f := newTestFSM()
	l := &testLog{t: t}
	f.Apply(l.add(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("team"))}))
	f.Apply(l.add(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("other"))}))
	for i := 0; i < 3; i++ {
		f.Apply(l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, configMap("team", fmt.Sprint("c", i), nil, ""))}))
	}
	f.Apply(l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, configMap("other", "keep", nil, ""))}))
	if err := respErr(t, f.Apply(l.add(MsgDelete, DeleteMsg{Kind: "Namespace", Name: "team"}))); err != nil {
		t.Fatal(err)
	}
	v := f.View()
	if n := v.Count("ConfigMap", "team"); n != 0 {
		t.Fatalf("%d config maps left in the deleted namespace", n)
	}
	if v.Get("ConfigMap", "other", "keep") == nil {
		t.Fatal("deleting one namespace removed another's objects")
	}
}

// buildLog makes a log with a mix of successful and failing commands.
func buildLog(t *testing.T) []*raft.Log {
	l := &testLog{t: t}
	l.add(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("default"))})
	for i := 0; i < 50; i++ {
		cm := configMap("default", fmt.Sprint("cm-", i%7), map[string]string{"i": fmt.Sprint(i % 3)}, fmt.Sprint(i))
		switch i % 4 {
		case 0, 1:
			l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, cm)})
		case 2:
			l.add(MsgUpdate, UpdateMsg{Kind: "ConfigMap", Object: rawJSON(t, cm), ResourceVersion: uint64(i)})
		case 3:
			l.add(MsgDelete, DeleteMsg{Kind: "ConfigMap", Namespace: "default", Name: cm.Name})
		}
	}
	return l.logs
}

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, f.View()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestApplyIsDeterministic(t *testing.T) {
	logs := buildLog(t)
	one, two := newTestFSM(), newTestFSM()
	for _, l := range logs {
		one.Apply(l)
	}
	// The same log in batches of varying size gives the same state.
	for i := 0; i < len(logs); i += 7 {
		end := min(i+7, len(logs))
		two.ApplyBatch(logs[i:end])
	}
	a, b := snapshotBytes(t, one), snapshotBytes(t, two)
	if !bytes.Equal(a, b) {
		t.Fatalf("two replicas of one log differ:\n%s\n---\n%s", a, b)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	f := newTestFSM()
	for _, l := range buildLog(t) {
		f.Apply(l)
	}
	data := snapshotBytes(t, f)
	g := newTestFSM()
	if err := g.Restore(nopCloser{bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	if again := snapshotBytes(t, g); !bytes.Equal(data, again) {
		t.Fatal("restored state differs from the snapshot")
	}
	if g.View().Revision() != f.View().Revision() {
		t.Fatalf("revision %d after restore, want %d", g.View().Revision(), f.View().Revision())
	}
	// A corrupted or truncated snapshot is refused and replaces nothing.
	corrupt := bytes.Replace(data, []byte(`"k":"`), []byte(`"k":"X`), 1)
	h := newTestFSM()
	if err := h.Restore(nopCloser{bytes.NewReader(corrupt)}); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("corrupt snapshot: err = %v", err)
	}
	if err := h.Restore(nopCloser{bytes.NewReader(data[:len(data)/2])}); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("truncated snapshot: err = %v", err)
	}
	if h.View().Count("ConfigMap", "") != 0 {
		t.Fatal("a refused snapshot changed the state")
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func TestWatchResumeTooOldAndSelectors(t *testing.T) {
	f := newTestFSM() // history of 16 events
	l := &testLog{t: t}
	f.Apply(l.add(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("default"))}))
	for i := 0; i < 5; i++ {
		f.Apply(l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, configMap("default", fmt.Sprint("c", i), map[string]string{"app": "web"}, ""))}))
	}
	// Resume after revision 3: events 4, 5, 6 (c2, c3, c4).
	w, err := f.Hub().Watch(Filter{Kind: "ConfigMap"}, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"c2", "c3", "c4"} {
		ev := <-w.Events()
		if ev.Type != Added || ev.Object.Object().GetName() != want {
			t.Fatalf("got %s %s, want ADDED %s", ev.Type, ev.Object.Object().GetName(), want)
		}
	}
	w.Stop()

	// A label-selected watch sees an object leave the selection as DELETED.
	sel := labels.SelectorFromSet(labels.Set{"app": "web"})
	rev := f.View().Revision()
	lw, err := f.Hub().Watch(Filter{Kind: "ConfigMap", Selection: storage.Selection{Labels: sel}}, rev, nil)
	if err != nil {
		t.Fatal(err)
	}
	cm := configMap("default", "c0", map[string]string{"app": "db"}, "")
	f.Apply(l.add(MsgUpdate, UpdateMsg{Kind: "ConfigMap", Object: rawJSON(t, cm)}))
	if ev := <-lw.Events(); ev.Type != Deleted || ev.Object.Object().GetName() != "c0" {
		t.Fatalf("got %s %s, want DELETED c0", ev.Type, ev.Object.Object().GetName())
	}
	// A field-selected watch only sees its object.
	res, _ := resources.Default().ByKind("ConfigMap")
	fw, err := f.Hub().Watch(Filter{Kind: "ConfigMap", Selection: storage.Selection{Fields: fields.OneTermEqualSelector("metadata.name", "c4")}, FieldSet: res.SelectableFields}, f.View().Revision(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Apply(l.add(MsgDelete, DeleteMsg{Kind: "ConfigMap", Namespace: "default", Name: "c3"}))
	f.Apply(l.add(MsgDelete, DeleteMsg{Kind: "ConfigMap", Namespace: "default", Name: "c4"}))
	if ev := <-fw.Events(); ev.Type != Deleted || ev.Object.Object().GetName() != "c4" {
		t.Fatalf("field-selected watch got %s %s", ev.Type, ev.Object.Object().GetName())
	}

	// Push the early events out of the 16-event history: resuming from
	// revision 3 is now "too old".
	for i := 10; i < 30; i++ {
		f.Apply(l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, configMap("default", fmt.Sprint("c", i), map[string]string{"app": "web"}, ""))}))
	}
	if _, err := f.Hub().Watch(Filter{Kind: "ConfigMap"}, 3, nil); !errors.Is(err, ErrTooOld) {
		t.Fatalf("resume from an evicted revision: err = %v, want ErrTooOld", err)
	}
	// lw never read the 20 new app=web events: with a buffer of 8 it was cut
	// off instead of blocking Apply.
	for range lw.Events() {
	}
	if !errors.Is(lw.Err(), ErrTooSlow) {
		t.Fatalf("slow watcher err = %v, want ErrTooSlow", lw.Err())
	}
}

func TestUnknownCommandFailsTheSameEverywhere(t *testing.T) {
	f := newTestFSM()
	out := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{200, '{', '}'}})
	if err := respErr(t, out); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("err = %v", err)
	}
	if applied, _ := f.Applied(); applied != 1 {
		t.Fatalf("applied = %d, want 1 (a failed command still consumes its index)", applied)
	}
}

var _ apis.Object = (*corev1.Pod)(nil)

// The record JSON spliced from the command equals, as JSON, what encoding
// the stored object gives.
func TestSplicedJSONMatchesEncoding(t *testing.T) {
	f := newTestFSM()
	l := &testLog{t: t}
	f.Apply(l.add(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("default"))}))
	cm := configMap("default", "spliced", map[string]string{"a": "b"}, "")
	cm.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
	raw := rawJSON(t, cm)
	cmd := EncodeCreate("ConfigMap", raw)
	l.index++
	out := f.Apply(&raft.Log{Index: l.index, Type: raft.LogCommand, Data: cmd}).(applyResponse)
	if out.err != nil {
		t.Fatal(out.err)
	}
	rec := out.result.Records[0]
	if rec.src == nil {
		t.Fatal("the command's JSON was not reused")
	}
	var a, b map[string]any
	if err := json.Unmarshal(rec.JSON(), &a); err != nil {
		t.Fatalf("spliced JSON does not parse: %v\n%s", err, rec.JSON())
	}
	enc, _ := json.Marshal(rec.Object())
	json.Unmarshal(enc, &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("spliced %s\nencoded %s", rec.JSON(), enc)
	}
	if got, _ := spliceResourceVersion([]byte(`{"metadata":{}}`), "7"); string(got) != `{"metadata":{"resourceVersion":"7"}}` {
		t.Fatalf("empty metadata: %s", got)
	}
}
