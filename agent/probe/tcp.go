package probe

import (
	"context"
	"net"
	"strconv"
	"time"
)

// tcpProbe is Success when a TCP connection to host:port opens within
// timeout, and Failure with the dial error otherwise. The connection is
// closed at once; nothing is sent.
func tcpProbe(ctx context.Context, host string, port int, timeout time.Duration) (Result, string) {
	if host == "" {
		return Unknown, "tcpSocket probe has no host: the pod has no IP yet"
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return Failure, err.Error()
	}
	// The probe succeeded once the handshake did; a close error changes nothing.
	_ = conn.Close()
	return Success, ""
}
