package daemon

import (
	"bufio"
	"encoding/json"
	"sync"
	"time"

	"github.com/skiffhq/skiff/apis/server"
	"gopkg.in/natefinch/lumberjack.v2"
)

// auditFlushInterval bounds how long an audit line waits in memory: lines
// are written in batches, not one system call per request.
const auditFlushInterval = 200 * time.Millisecond

// newAuditLog writes one JSON line per mutating request to path, rotating
// the file at 100 MiB and keeping five old ones. It returns the writer and
// a close function that flushes what is buffered.
func newAuditLog(path string) (func(server.AuditEntry), func()) {
	lj := &lumberjack.Logger{Filename: path, MaxSize: 100, MaxBackups: 5}
	bw := bufio.NewWriterSize(lj, 256<<10)
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(auditFlushInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				mu.Lock()
				_ = bw.Flush()
				mu.Unlock()
			}
		}
	}()
	write := func(e server.AuditEntry) {
		line, err := json.Marshal(e)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = bw.Write(append(line, '\n'))
	}
	closeLog := func() {
		close(done)
		mu.Lock()
		defer mu.Unlock()
		_ = bw.Flush()
		lj.Close()
	}
	return write, closeLog
}
