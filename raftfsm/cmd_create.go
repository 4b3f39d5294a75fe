package raftfsm

import apierrors "k8s.io/apimachinery/pkg/api/errors"

func applyCreate(tx *writeTxn, payload []byte) ([]*record, error) {
	var m CreateMsg
	if err := decodeMsg(payload, &m); err != nil {
		return nil, err
	}
	rec, err := tx.create(m.Kind, m.Object)
	if err != nil {
		return nil, err
	}
	return []*record{rec}, nil
}

func applyCreateRaw(tx *writeTxn, payload []byte) ([]*record, error) {
	kind, object, err := readKind(payload)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	rec, err := tx.create(kind, object)
	if err != nil {
		return nil, err
	}
	return []*record{rec}, nil
}
