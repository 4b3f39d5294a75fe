package raftfsm

import (
	"testing"
	"time"
)

func TestCommandKind(t *testing.T) {
	mustEncode := func(mt MsgType, msg any) []byte {
		b, err := Encode(mt, msg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		cmd  []byte
		kind string
		any  bool
	}{
		{"raw create", EncodeCreate("Pod", []byte(`{}`)), "Pod", false},
		{"raw update", EncodeUpdate("Deployment", 7, []byte(`{}`)), "Deployment", false},
		{"JSON delete", mustEncode(MsgDelete, DeleteMsg{Kind: "ConfigMap", Name: "a"}), "ConfigMap", false},
		{"a namespace's deletion takes its contents", mustEncode(MsgDelete, DeleteMsg{Kind: "Namespace", Name: "a"}), "", true},
		{"a transaction", mustEncode(MsgTxn, TxnMsg{}), "", true},
		{"a no-op writes nothing", mustEncode(MsgNoop, struct{}{}), "", false},
		{"a cut frame", []byte{byte(MsgCreateRaw), 9, 'P'}, "", true},
		{"an unknown type", []byte{99}, "", true},
		{"empty", nil, "", true},
	}
	for _, c := range cases {
		kind, any := commandKind(c.cmd)
		if kind != c.kind || any != c.any {
			t.Errorf("%s: got %q/%v, want %q/%v", c.name, kind, any, c.kind, c.any)
		}
	}
}

// A write counts as in flight from before Raft has it until its group is
// applied; a command of unknown kinds holds every kind.
func TestGroupCommitCountsKindsInFlight(t *testing.T) {
	r := &recordingRaft{arrived: make(chan struct{}, 100)}
	g := newGroupCommitN(r, 512, 2)
	settles := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	g.apply(EncodeCreate("Pod", []byte(`{}`)))
	<-r.arrived
	if !g.inflight.busy("Pod") || g.inflight.busy("Deployment") {
		t.Fatal("a pod write in flight: pods busy, deployments not")
	}
	r.release(0)
	settles("pods still busy once the write is applied", func() bool { return !g.inflight.busy("Pod") })

	txn, _ := Encode(MsgTxn, TxnMsg{})
	g.apply(txn)
	<-r.arrived
	if !g.inflight.busy("Deployment") {
		t.Fatal("a transaction in flight leaves deployments free")
	}
	r.release(1)
	settles("busy after the transaction", func() bool { return !g.inflight.busy("Deployment") && !g.inflight.busy("Pod") })
}
