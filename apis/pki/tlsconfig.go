package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// KeyPair is a certificate, its key and the CAs to trust, all replaceable
// while connections use them: renewal and CA rotation need no restart.
type KeyPair struct {
	cert  atomic.Pointer[tls.Certificate]
	trust atomic.Pointer[x509.CertPool]
}

// NewKeyPair returns a key pair trusting the CAs of bundle.
func NewKeyPair(certPEM, keyPEM, bundle []byte) (*KeyPair, error) {
	k := &KeyPair{}
	if err := k.Set(certPEM, keyPEM); err != nil {
		return nil, err
	}
	k.SetTrust(bundle)
	return k, nil
}

// Set replaces the certificate.
func (k *KeyPair) Set(certPEM, keyPEM []byte) error {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return err
		}
	}
	k.cert.Store(&c)
	return nil
}

// SetTrust replaces the trusted CAs.
func (k *KeyPair) SetTrust(bundle []byte) { k.trust.Store(PoolOf(bundle)) }

// Leaf returns the current certificate.
func (k *KeyPair) Leaf() *x509.Certificate { return k.cert.Load().Leaf }

// Trust returns the current trust pool.
func (k *KeyPair) Trust() *x509.CertPool { return k.trust.Load() }

// ServerTLS serves the current certificate with TLS 1.3 and verifies a
// client certificate against the current CAs. With requireClient false,
// clients without a certificate get through the handshake (the API then
// answers 401 for everything that needs one); a certificate from another
// CA fails the handshake either way.
func (k *KeyPair) ServerTLS(requireClient bool) *tls.Config {
	auth := tls.VerifyClientCertIfGiven
	if requireClient {
		auth = tls.RequireAndVerifyClientCert
	}
	// HTTP/2 first: a node's many status writes and its watch share one
	// connection instead of each opening (and handshaking) its own.
	protos := []string{"h2", "http/1.1"}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: protos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				NextProtos:   protos,
				Certificates: []tls.Certificate{*k.cert.Load()},
				ClientAuth:   auth,
				ClientCAs:    k.trust.Load(),
			}, nil
		},
	}
}

// PeerTLS configures both ends of a connection between peers that must
// both hold a certificate of role (masters on the Raft port): the server
// requires one, and each side refuses a peer of another role.
func (k *KeyPair) PeerTLS(role string) (server, client *tls.Config) {
	checkRole := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the peer presented no certificate")
		}
		if got := IdentityOf(cs.PeerCertificates[0]).Role; got != role {
			return fmt.Errorf("the peer's certificate has role %q, not %q", got, role)
		}
		return nil
	}
	server = &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return &tls.Config{
				MinVersion:       tls.VersionTLS13,
				Certificates:     []tls.Certificate{*k.cert.Load()},
				ClientAuth:       tls.RequireAndVerifyClientCert,
				ClientCAs:        k.trust.Load(),
				VerifyConnection: checkRole,
			}, nil
		},
	}
	client = k.ClientTLS()
	verify := client.VerifyConnection
	client.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := verify(cs); err != nil {
			return err
		}
		return checkRole(cs)
	}
	return server, client
}

// ClientTLS presents the current certificate and verifies servers against
// the current CAs (and, when serverName is set, their name or IP).
func (k *KeyPair) ClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return k.cert.Load(), nil
		},
		// Verification happens in VerifyConnection, against the trust pool
		// of the moment; the standard verifier would freeze RootCAs.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return VerifyServer(cs, k.trust.Load())
		},
	}
}

// VerifyServer checks a server's certificate chain against roots and its
// name against the host dialled.
func VerifyServer(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, DNSName: cs.ServerName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("the server's certificate is not from this cluster's CA: %w", err)
	}
	return nil
}

// RenewAt returns when a certificate should be renewed: after two thirds
// of its lifetime.
func RenewAt(cert *x509.Certificate) time.Time {
	life := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotBefore.Add(life * 2 / 3)
}

// SaveKeyPair writes name.crt and name.key (0600) into dir.
func SaveKeyPair(dir, name string, certPEM, keyPEM []byte) error {
	if err := writeFile(filepath.Join(dir, name+".key"), keyPEM, 0o600); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, name+".crt"), certPEM, 0o644)
}

// LoadKeyPairFiles reads name.crt and name.key from dir.
func LoadKeyPairFiles(dir, name string) (certPEM, keyPEM []byte, err error) {
	certPEM, err = os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = os.ReadFile(filepath.Join(dir, name+".key"))
	return certPEM, keyPEM, err
}
