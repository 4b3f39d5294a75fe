package raftfsm

func applyDelete(tx *writeTxn, payload []byte) ([]*record, error) {
	var m DeleteMsg
	if err := decodeMsg(payload, &m); err != nil {
		return nil, err
	}
	rec, err := tx.delete(&m)
	if err != nil {
		return nil, err
	}
	return []*record{rec}, nil
}
