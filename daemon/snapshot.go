package daemon

import (
	"io"
	"log/slog"
	"os"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/raftfsm"
)

// SnapshotInfo describes a saved snapshot.
type SnapshotInfo struct {
	Revision uint64
	Objects  int
}

// VerifySnapshot reads a whole snapshot file, checking its format and
// checksum, as a restore would.
func VerifySnapshot(path string) (*SnapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reg := resources.Default()
	store := raftfsm.NewFSM(raftfsm.FSMConfig{Registry: reg, History: 1, WatchBuffer: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := store.Restore(f); err != nil {
		return nil, err
	}
	v := store.View()
	n := 0
	for _, res := range reg.All() {
		n += v.Count(res.Kind, "")
	}
	return &SnapshotInfo{Revision: v.Revision(), Objects: n}, nil
}
