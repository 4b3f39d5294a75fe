package raftfsm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/skiffhq/skiff/apis/resources"
)

// Snapshot format: JSON lines, so that a saved snapshot is inspectable with
// ordinary tools.
//
//	skiff-snapshot v1
//	{"revision":1234}
//	{"kind":"Pod","object":{...}}        one line per object, every table
//	{"end":true,"objects":N,"sha256":"…"} checksum of every byte before it
//
// Every kind is saved and restored the same way, so a new kind needs no
// snapshot code of its own.
const snapshotMagic = "skiff-snapshot v1\n"

// ErrBadSnapshot wraps every reason a snapshot cannot be read.
var ErrBadSnapshot = errors.New("invalid snapshot")

type snapshotHeader struct {
	Revision uint64 `json:"revision"`
}

type snapshotEntry struct {
	Kind   string          `json:"kind"`
	Object json.RawMessage `json:"object"`
}

type snapshotTrailer struct {
	End     bool   `json:"end"`
	Objects int    `json:"objects"`
	SHA256  string `json:"sha256"`
}

// WriteSnapshot writes every object of the view to w.
func WriteSnapshot(w io.Writer, v *View) error {
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 256<<10)
	// The trailer must not be part of the checksum: write it to w only.
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return err
	}
	if err := writeLine(bw, snapshotHeader{Revision: v.Revision()}); err != nil {
		return err
	}
	count := 0
	for _, res := range v.reg.All() {
		var err error
		v.Scan(res.Kind, "", "", func(r *record) bool {
			err = writeLine(bw, snapshotEntry{Kind: res.Kind, Object: r.JSON()})
			count++
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	trailer, err := json.Marshal(snapshotTrailer{End: true, Objects: count, SHA256: hex.EncodeToString(sum.Sum(nil))})
	if err != nil {
		return err
	}
	_, err = w.Write(append(trailer, '\n'))
	return err
}

func writeLine(w *bufio.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.WriteByte('\n')
}

// ReadSnapshot loads a snapshot into an empty store and returns its
// revision. The store is only usable when it returns no error.
func ReadSnapshot(r io.Reader, reg *resources.Registry, store *Store) (uint64, error) {
	sum := sha256.New()
	br := bufio.NewReaderSize(r, 256<<10)
	magic, err := readLine(br, sum)
	if err != nil || string(magic) != snapshotMagic {
		return 0, fmt.Errorf("%w: not a skiff snapshot (bad first line)", ErrBadSnapshot)
	}
	line, err := readLine(br, sum)
	if err != nil {
		return 0, fmt.Errorf("%w: header: %v", ErrBadSnapshot, err)
	}
	var hdr snapshotHeader
	if err := json.Unmarshal(line, &hdr); err != nil {
		return 0, fmt.Errorf("%w: header: %v", ErrBadSnapshot, err)
	}
	txn := store.db.Txn(true)
	defer txn.Abort()
	count := 0
	for {
		line, err := readLine(br, nil)
		if err != nil {
			return 0, fmt.Errorf("%w: truncated after %d objects: %v", ErrBadSnapshot, count, err)
		}
		if bytes.HasPrefix(line, []byte(`{"end":`)) {
			var tr snapshotTrailer
			if err := json.Unmarshal(line, &tr); err != nil {
				return 0, fmt.Errorf("%w: trailer: %v", ErrBadSnapshot, err)
			}
			if got := hex.EncodeToString(sum.Sum(nil)); got != tr.SHA256 || tr.Objects != count {
				return 0, fmt.Errorf("%w: checksum mismatch (corrupt or truncated file)", ErrBadSnapshot)
			}
			break
		}
		sum.Write(line)
		var e snapshotEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return 0, fmt.Errorf("%w: object %d: %v", ErrBadSnapshot, count+1, err)
		}
		res, ok := reg.ByKind(e.Kind)
		if !ok {
			return 0, fmt.Errorf("%w: object %d has kind %q, which this skiff does not serve", ErrBadSnapshot, count+1, e.Kind)
		}
		obj := res.New()
		if err := fastJSON.Unmarshal(e.Object, obj); err != nil {
			return 0, fmt.Errorf("%w: %s %d: %v", ErrBadSnapshot, e.Kind, count+1, err)
		}
		obj.GetObjectKind().SetGroupVersionKind(res.GVK())
		// The line already is the object's encoding: keep it.
		rec := newRecord(e.Kind, obj)
		rec.once.Do(func() { rec.raw = e.Object })
		if err := txn.Insert(e.Kind, rec); err != nil {
			return 0, fmt.Errorf("%w: %s %s/%s: %v", ErrBadSnapshot, e.Kind, obj.GetNamespace(), obj.GetName(), err)
		}
		count++
	}
	if err := txn.Insert(metaTable, &metaRow{Revision: hdr.Revision}); err != nil {
		return 0, err
	}
	txn.Commit()
	return hdr.Revision, nil
}

// readLine reads one line (with its newline) and adds it to sum if given.
func readLine(br *bufio.Reader, sum hash.Hash) ([]byte, error) {
	line, err := br.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	if sum != nil {
		sum.Write(line)
	}
	return line, nil
}
