package probe

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	open := l.Addr().(*net.TCPAddr).Port
	refused := closedPort(t)

	tests := []struct {
		name string
		host string
		port int
		want Result
		msg  string
	}{
		{name: "listening", host: "127.0.0.1", port: open, want: Success, msg: ""},
		{name: "closed port", host: "127.0.0.1", port: refused, want: Failure,
			msg: fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", refused)},
		{name: "no host", host: "", port: open, want: Unknown, msg: "tcpSocket probe has no host: the pod has no IP yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, msg := tcpProbe(context.Background(), tt.host, tt.port, time.Second)
			if res != tt.want || msg != tt.msg {
				t.Fatalf("got %v %q, want %v %q", res, msg, tt.want, tt.msg)
			}
		})
	}
}
