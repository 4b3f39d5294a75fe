package raftfsm

// writtenResult is the result that applying cmd at index had, when it
// follows from the command alone: a create's or an update's record is the
// command's object at resourceVersion index. That holds only once the
// command is known to have succeeded (the leader applied it without
// error): every master applies it alike.
func (f *FSM) writtenResult(cmd []byte, index uint64) (*Result, bool) {
	if len(cmd) == 0 {
		return nil, false
	}
	var kind string
	var object []byte
	var err error
	switch MsgType(cmd[0]) {
	case MsgCreateRaw:
		kind, object, err = readKind(cmd[1:])
	case MsgUpdateRaw:
		kind, _, object, err = readUpdateRaw(cmd[1:])
	default:
		return nil, false
	}
	if err != nil {
		return nil, false
	}
	tx := &writeTxn{reg: f.reg, index: index}
	d, err := tx.decode(kind, object)
	if err != nil {
		return nil, false
	}
	return &Result{Index: index, Records: []*record{tx.newRecordAt(kind, d, object)}}, true
}
