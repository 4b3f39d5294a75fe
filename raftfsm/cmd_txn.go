package raftfsm

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// applyTxn runs every operation in the entry's single memdb transaction; the
// FSM aborts that transaction when any of them fails, so it is all or none.
func applyTxn(tx *writeTxn, payload []byte) ([]*record, error) {
	var m TxnMsg
	if err := decodeMsg(payload, &m); err != nil {
		return nil, err
	}
	if len(m.Ops) > maxTxnOps {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("a transaction holds at most %d operations, got %d", maxTxnOps, len(m.Ops)))
	}
	out := make([]*record, 0, len(m.Ops))
	for i, op := range m.Ops {
		var rec *record
		var err error
		switch {
		case op.Create != nil:
			rec, err = tx.create(op.Create.Kind, op.Create.Object)
		case op.Update != nil:
			rec, err = tx.update(op.Update.Kind, op.Update.Object, op.Update.ResourceVersion)
		case op.Delete != nil:
			rec, err = tx.delete(op.Delete)
		default:
			err = apierrors.NewBadRequest(fmt.Sprintf("transaction operation %d is empty", i))
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}
