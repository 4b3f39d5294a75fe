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
	kind, rest, err := readKind(payload)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	rv, w := binary.Uvarint(rest)
	if w <= 0 {
		return nil, apierrors.NewBadRequest(errBadFrame.Error())
	}
	rec, err := tx.update(kind, rest[w:], rv)
	if err != nil {
		return nil, err
	}
	return []*record{rec}, nil
}
