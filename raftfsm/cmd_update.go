package raftfsm

import (
	"encoding/binary"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func applyUpdate(tx *writeTxn, payload []byte) ([]*record, error) {
	var m UpdateMsg
	if err := decodeMsg(payload, &m); err != nil {
		return nil, err
	}
	rec, err := tx.update(m.Kind, m.Object, m.ResourceVersion)
	if err != nil {
		return nil, err
	}
	return []*record{rec}, nil
}

func applyUpdateRaw(tx *writeTxn, payload []byte) ([]*record, error) {
	kind, rv, object, err := readUpdateRaw(payload)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	rec, err := tx.update(kind, object, rv)
	if err != nil {
		return nil, err
	}
	return []*record{rec}, nil
}

// readUpdateRaw reads an EncodeUpdate frame's payload.
func readUpdateRaw(payload []byte) (kind string, rv uint64, object []byte, err error) {
	kind, rest, err := readKind(payload)
	if err != nil {
		return "", 0, nil, err
	}
	rv, w := binary.Uvarint(rest)
	if w <= 0 {
		return "", 0, nil, errBadFrame
	}
	return kind, rv, rest[w:], nil
}
