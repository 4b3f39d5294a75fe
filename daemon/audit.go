package daemon

import (
	"encoding/json"
	"sync"

	"github.com/skiffhq/skiff/apis/server"
	"gopkg.in/natefinch/lumberjack.v2"
)

// newAuditLog writes one JSON line per mutating request to path, rotating
// the file at 100 MiB and keeping five old ones.
func newAuditLog(path string) (func(server.AuditEntry), func()) {
	lj := &lumberjack.Logger{Filename: path, MaxSize: 100, MaxBackups: 5}
	var mu sync.Mutex
	write := func(e server.AuditEntry) {
		line, err := json.Marshal(e)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = lj.Write(append(line, '\n'))
	}
	return write, func() { lj.Close() }
}
