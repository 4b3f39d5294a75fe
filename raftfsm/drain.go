package raftfsm

// drain returns first and whatever else waits in queue right now, up to
// limit in all: how the forwarder and group commit gather a batch without
// waiting for one to fill.
func drain[T any](first T, queue <-chan T, limit int) []T {
	batch := []T{first}
	for len(batch) < limit {
		select {
		case r := <-queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}
