package raftfsm

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// MsgType identifies a command in the Raft log. Values are explicit and
// never reused: a log written by an older skiff must replay the same way.
type MsgType uint8

// Command types.
const (
	MsgCreate MsgType = 1 // CreateMsg
	MsgUpdate MsgType = 2 // UpdateMsg
	MsgDelete MsgType = 3 // DeleteMsg
	MsgTxn    MsgType = 4 // TxnMsg
	// MsgNoop carries nothing. A new leader applies one before serving
	// linearizable reads, so that every entry from then on reaches the FSM
	// (Raft's own no-op and barrier entries never do).
	MsgNoop MsgType = 5
	// MsgCreateRaw and MsgUpdateRaw carry the same as MsgCreate and
	// MsgUpdate framed in binary, the object's JSON last and untouched:
	// no JSON envelope to validate, escape and scan again on every master.
	// The API's writes use them.
	MsgCreateRaw MsgType = 6 // kind, object JSON
	MsgUpdateRaw MsgType = 7 // kind, resourceVersion, object JSON
)

func (t MsgType) String() string {
	switch t {
	case MsgCreate:
		return "create"
	case MsgUpdate:
		return "update"
	case MsgDelete:
		return "delete"
	case MsgTxn:
		return "txn"
	case MsgNoop:
		return "noop"
	case MsgCreateRaw:
		return "create-raw"
	case MsgUpdateRaw:
		return "update-raw"
	}
	return fmt.Sprintf("msg(%d)", uint8(t))
}

// CreateMsg stores a new object. The leader has already filled uid,
// creationTimestamp and generation; the FSM sets resourceVersion.
type CreateMsg struct {
	Kind   string          `json:"kind"`
	Object json.RawMessage `json:"object"`
}

// UpdateMsg replaces an object. When ResourceVersion is not zero the update
// applies only if the stored object is still at that version.
type UpdateMsg struct {
	Kind            string          `json:"kind"`
	Object          json.RawMessage `json:"object"`
	ResourceVersion uint64          `json:"resourceVersion,omitempty"`
}

// DeleteMsg removes an object; UID and ResourceVersion, when set, are
// preconditions. Deleting a Namespace removes everything in it.
type DeleteMsg struct {
	Kind            string `json:"kind"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name"`
	UID             string `json:"uid,omitempty"`
	ResourceVersion uint64 `json:"resourceVersion,omitempty"`
}

// TxnMsg applies several operations atomically: all or none.
type TxnMsg struct {
	Ops []TxnOp `json:"ops"`
}

// TxnOp is one operation of a transaction; exactly one field is set.
type TxnOp struct {
	Create *CreateMsg `json:"create,omitempty"`
	Update *UpdateMsg `json:"update,omitempty"`
	Delete *DeleteMsg `json:"delete,omitempty"`
}

// maxTxnOps bounds a transaction so one log entry stays small.
const maxTxnOps = 128

// Encode frames a command for the Raft log: one type byte, then JSON.
func Encode(t MsgType, msg any) ([]byte, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encoding %s command: %w", t, err)
	}
	return append([]byte{byte(t)}, body...), nil
}

// EncodeCreate frames a create: type byte, uvarint kind length, kind, JSON.
func EncodeCreate(kind string, object []byte) []byte {
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(kind)+len(object))
	out = append(out, byte(MsgCreateRaw))
	out = binary.AppendUvarint(out, uint64(len(kind)))
	out = append(out, kind...)
	return append(out, object...)
}

// EncodeUpdate frames an update: type byte, kind as in EncodeCreate, then
// the resourceVersion precondition as a uvarint, then JSON.
func EncodeUpdate(kind string, rv uint64, object []byte) []byte {
	out := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(kind)+len(object))
	out = append(out, byte(MsgUpdateRaw))
	out = binary.AppendUvarint(out, uint64(len(kind)))
	out = append(out, kind...)
	out = binary.AppendUvarint(out, rv)
	return append(out, object...)
}

var errBadFrame = errors.New("malformed command frame")

// readKind reads the kind at the start of a raw frame's payload.
func readKind(p []byte) (string, []byte, error) {
	n, w := binary.Uvarint(p)
	if w <= 0 || uint64(len(p)-w) < n {
		return "", nil, errBadFrame
	}
	return string(p[w : w+int(n)]), p[w+int(n):], nil
}
