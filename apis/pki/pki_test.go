package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseToken(t *testing.T) {
	ca, err := NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	good, err := NewToken(ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	digest := good.CADigest
	cases := []struct {
		name, in string
		wantErr  error
	}{
		{"good", good.String(), nil},
		{"surrounding space", " " + good.String() + "\n", nil},
		{"empty", "", ErrMalformedToken},
		{"other version", "SKIFF2-" + digest + "-" + good.Secret, ErrMalformedToken},
		{"no secret", "SKIFF1-" + digest, ErrMalformedToken},
		{"short digest", "SKIFF1-abcd-" + good.Secret, ErrMalformedToken},
		{"upper-case digest", "SKIFF1-" + strings.ToUpper(digest) + "-" + good.Secret, ErrMalformedToken},
		{"short secret", "SKIFF1-" + digest + "-abc123", ErrMalformedToken},
		{"secret not hex", "SKIFF1-" + digest + "-" + strings.Repeat("z", 40), ErrMalformedToken},
		{"garbage", "hello world", ErrMalformedToken},
		{"k3s style", "K10abc::server:secret", ErrMalformedToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseToken(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (!tok.Matches(good.SecretHash()) || !tok.PinsCA(ca.Cert)) {
				t.Fatal("parsed token does not match its origin")
			}
		})
	}
	other, _ := NewToken(ca.Cert)
	if other.Matches(good.SecretHash()) || other.ID() == good.ID() {
		t.Fatal("two random tokens match")
	}
	otherCA, _ := NewCA("other", time.Now())
	if good.PinsCA(otherCA.Cert) {
		t.Fatal("token pins a foreign CA")
	}
}

func TestSignChecksCSR(t *testing.T) {
	ca, _ := NewCA("test", time.Now())
	csr, _, err := NewCSR(NodeName("n1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Sign(csr, IssueOptions{Identity: Identity{Name: NodeName("n2"), Role: RoleNode}}); !errors.Is(err, ErrCSR) {
		t.Fatalf("CSR for another node's name: %v", err)
	}
	if _, err := ca.Sign([]byte(strings.Repeat("A", MaxCSRBytes+1)), IssueOptions{}); !errors.Is(err, ErrCSR) || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("oversized CSR: %v", err)
	}
	if _, err := ca.Sign([]byte("garbage"), IssueOptions{}); !errors.Is(err, ErrCSR) {
		t.Fatalf("garbage CSR: %v", err)
	}
	certPEM, err := ca.Sign(csr, IssueOptions{Identity: Identity{Name: NodeName("n1"), Role: RoleNode}, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	certs, _ := ParseCerts(certPEM)
	if id := IdentityOf(certs[0]); id.Name != "node:n1" || id.Role != RoleNode {
		t.Fatalf("identity = %+v", id)
	}
	if got := RenewAt(certs[0]).Sub(certs[0].NotBefore); got != (time.Hour+5*time.Minute)*2/3 {
		t.Fatalf("renew after %v", got)
	}
}

// A client with a certificate from another CA fails the handshake; one
// from this CA passes; a server from another CA is refused by the client.
func TestTLSTrustsOnlyTheClusterCA(t *testing.T) {
	ca, _ := NewCA("cluster", time.Now())
	other, _ := NewCA("other", time.Now())
	pair := func(c *CA, name string) *KeyPair {
		certPEM, keyPEM, err := c.Issue(IssueOptions{Identity: Identity{Name: name, Role: RoleServer}, Hosts: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		kp, err := NewKeyPair(certPEM, keyPEM, c.Bundle)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	srv := pair(ca, "server:a")
	l, err := tls.Listen("tcp", "127.0.0.1:0", srv.ServerTLS(true))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Write([]byte("x")); c.Close() }()
		}
	}()
	dial := func(kp *KeyPair) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", l.Addr().String(), kp.ClientTLS())
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 1)
		_, err = c.Read(buf)
		return err
	}
	if err := dial(pair(ca, "server:b")); err != nil {
		t.Fatalf("same CA: %v", err)
	}
	// Foreign client: the server refuses it (the client sees the alert on read).
	foreign := pair(other, "server:c")
	foreign.SetTrust(ca.Bundle)
	if err := dial(foreign); err == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
	// The client refuses a server from another CA.
	mine := pair(other, "server:d")
	if err := dial(mine); err == nil || !strings.Contains(err.Error(), "not from this cluster's CA") {
		t.Fatalf("server from another CA: %v", err)
	}
}

// After a rotation, a certificate from the new CA is accepted by a host
// that trusts only the old root (through the cross-signed chain), and an
// old certificate is accepted by hosts with the new bundle.
func TestRotationKeepsBothGenerationsTrusted(t *testing.T) {
	old, _ := NewCA("skiff-ca", time.Now())
	next, err := old.Rotate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	newPEM, _, err := next.Issue(IssueOptions{Identity: Identity{Name: "server:a", Role: RoleServer}, Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	oldPEM, _, _ := old.Issue(IssueOptions{Identity: Identity{Name: "server:b", Role: RoleServer}, Hosts: []string{"127.0.0.1"}})
	verify := func(certPEM, roots []byte) error {
		certs, err := ParseCerts(certPEM)
		if err != nil {
			return err
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err = certs[0].Verify(x509.VerifyOptions{Roots: PoolOf(roots), Intermediates: inter})
		return err
	}
	if err := verify(newPEM, old.Bundle); err != nil {
		t.Fatalf("new certificate against the old root: %v", err)
	}
	if err := verify(oldPEM, next.Bundle); err != nil {
		t.Fatalf("old certificate against the new bundle: %v", err)
	}
	if err := verify(newPEM, next.Bundle); err != nil {
		t.Fatalf("new certificate against the new bundle: %v", err)
	}
	tok, _ := NewToken(old.Cert)
	if tok.PinsCA(next.Cert) {
		t.Fatal("an old token pins the new CA")
	}
}
