package raftfsm

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
