package raftfsm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// BenchmarkApplyConfigMapCreates is what every master does for each write
// of skiff-bench: apply the create of a 1 KiB ConfigMap, framed as the API
// frames it, in batches of 64 as Raft hands them over under load.
func BenchmarkApplyConfigMapCreates(b *testing.B) {
	t := &testing.T{}
	f := newTestFSM()
	l := &testLog{t: t}
	f.Apply(l.add(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("default"))}))
	payload := strings.Repeat("x", 1024)
	logs := make([]*raft.Log, b.N)
	for i := range logs {
		l.index++
		cmd := EncodeCreate("ConfigMap", rawJSON(t, configMap("default", fmt.Sprintf("bench-%d", i), nil, payload)))
		logs[i] = &raft.Log{Index: l.index, Term: 1, Type: raft.LogCommand, Data: cmd}
	}
	const batch = 64
	b.ReportAllocs()
	b.ResetTimer()
	for len(logs) > 0 {
		n := min(batch, len(logs))
		for _, r := range f.ApplyBatch(logs[:n]) {
			if err := r.(applyResponse).err; err != nil {
				b.Fatal(err)
			}
		}
		logs = logs[n:]
	}
}
