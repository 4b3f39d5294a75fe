package raftfsm

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"

	"k8s.io/apimachinery/pkg/api/equality"
)

// A follower answers a forwarded create or update from the command; the
// answer must be the record its own FSM writes when it applies the entry.
func TestWrittenResultIsWhatTheFSMWrites(t *testing.T) {
	f := newTestFSM()
	l := &testLog{t: t}
	if err := f.Apply(l.add(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("default"))})).(applyResponse).err; err != nil {
		t.Fatal(err)
	}
	cm := configMap("default", "demo", map[string]string{"app": "web"}, "v1")
	update := cm.DeepCopy()
	update.Data["k"] = "v2"
	noKind := configMap("default", "bare", nil, "x")
	noKind.Kind, noKind.APIVersion = "", ""
	for _, step := range []struct {
		name string
		cmd  []byte
	}{
		{"create", EncodeCreate("ConfigMap", rawJSON(t, cm))},
		{"update", EncodeUpdate("ConfigMap", 2, rawJSON(t, update))},
		{"create without kind", EncodeCreate("ConfigMap", rawJSON(t, noKind))},
		{"create of a pod", EncodeCreate("Pod", []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"p-uid"},"spec":{"nodeName":"n1"}}`))},
	} {
		l.index++
		entry := l.index
		predicted, ok := f.writtenResult(step.cmd, entry)
		if !ok {
			t.Fatalf("%s: no result from the command", step.name)
		}
		out := f.Apply(&raft.Log{Index: entry, Term: 1, Type: raft.LogCommand, Data: step.cmd}).(applyResponse)
		if out.err != nil {
			t.Fatalf("%s: %v", step.name, out.err)
		}
		got, want := predicted.Records[0], out.result.Records[0]
		if !bytes.Equal(got.JSON(), want.JSON()) {
			t.Errorf("%s: JSON\n got %s\nwant %s", step.name, got.JSON(), want.JSON())
		}
		if !equality.Semantic.DeepEqual(got.Object(), want.Object()) {
			t.Errorf("%s: object\n got %#v\nwant %#v", step.name, got.Object(), want.Object())
		}
	}
	del, err := Encode(MsgDelete, DeleteMsg{Kind: "ConfigMap", Namespace: "default", Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.writtenResult(del, l.index+1); ok {
		t.Error("a deletion's result predicted from its command")
	}
}

// A batch's entries share one transaction; the store's revision is then
// the index of the batch's last entry that wrote, as if each had been
// applied alone.
func TestBatchRevisionIsItsLastWrite(t *testing.T) {
	f := newTestFSM()
	l := &testLog{t: t}
	ns := l.add(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("default"))})
	createA := l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, configMap("default", "a", nil, "x"))})
	dupA := l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, configMap("default", "a", nil, "x"))})
	for i, r := range f.ApplyBatch([]*raft.Log{ns, createA, dupA}) {
		if err := r.(applyResponse).err; (err != nil) != (i == 2) {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	if got := f.View().Revision(); got != createA.Index {
		t.Fatalf("revision %d after a batch whose last entry failed, want %d", got, createA.Index)
	}
	// A batch where nothing writes leaves the revision alone.
	f.ApplyBatch([]*raft.Log{l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, configMap("default", "a", nil, "x"))})})
	if got := f.View().Revision(); got != createA.Index {
		t.Fatalf("revision %d after a failed write, want %d", got, createA.Index)
	}
	createB := l.add(MsgCreate, CreateMsg{Kind: "ConfigMap", Object: rawJSON(t, configMap("default", "b", nil, "x"))})
	f.ApplyBatch([]*raft.Log{createB})
	if got := f.View().Revision(); got != createB.Index {
		t.Fatalf("revision %d, want %d", got, createB.Index)
	}
}
