package raftfsm

func applyNoop(*writeTxn, []byte) ([]*record, error) { return nil, nil }
