package raftfsm

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
