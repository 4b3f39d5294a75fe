package raftfsm

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// TLSStream is a raft.StreamLayer over TLS: masters accept only peers whose
// certificate the server config verifies (the security layer requires a
// master's certificate), and dial with their own.
type TLSStream struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
}

// NewTLSStream listens on addr with server and dials peers with client.
func NewTLSStream(addr string, server, client *tls.Config) (*TLSStream, error) {
	l, err := tls.Listen("tcp", addr, server)
	if err != nil {
		return nil, fmt.Errorf("raft listen on %s: %w", addr, err)
	}
	adv, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		l.Close()
		return nil, err
	}
	return &TLSStream{Listener: l, advertise: adv, client: client}, nil
}

// Addr implements raft.StreamLayer.
func (t *TLSStream) Addr() net.Addr { return t.advertise }

// Dial implements raft.StreamLayer; the handshake completes before Raft
// writes, so a refused certificate fails here.
func (t *TLSStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	cfg := t.client.Clone()
	if host, _, err := net.SplitHostPort(string(address)); err == nil {
		cfg.ServerName = host
	}
	conn, err := tls.DialWithDialer(d, "tcp", string(address), cfg)
	if err != nil {
		return nil, err
	}
	return conn, nil
}
