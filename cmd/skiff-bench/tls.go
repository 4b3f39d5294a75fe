package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/skiffhq/skiff/apis/client"
)

// skiff serves only mutual TLS 1.3 unless told --insecure-bench-only, so
// the etcd it is compared with gets mutual TLS too: a throwaway CA, one
// certificate for the members (client and peer side) and one for the
// bench. ECDSA P-256, as skiff's own CA.

// etcdPKI is where the etcd members find their certificates, and the
// bench's TLS config for talking to them.
type etcdPKI struct {
	caFile, certFile, keyFile string
	client                    *tls.Config
}

func makeEtcdPKI(dir string) (*etcdPKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "skiff-bench etcd CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	issue := func(serial int64, cn string, usage []x509.ExtKeyUsage) (certPEM, keyPEM []byte, err error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
	}
	// Members present theirs to clients and, as clients, to their peers.
	memberCert, memberKey, err := issue(2, "etcd member", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
	if err != nil {
		return nil, err
	}
	benchCert, benchKey, err := issue(3, "skiff-bench", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	if err != nil {
		return nil, err
	}
	p := &etcdPKI{caFile: filepath.Join(dir, "ca.crt"), certFile: filepath.Join(dir, "member.crt"), keyFile: filepath.Join(dir, "member.key")}
	for path, data := range map[string][]byte{
		p.caFile:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		p.certFile: memberCert,
		p.keyFile:  memberKey,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	pair, err := tls.X509KeyPair(benchCert, benchKey)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	p.client = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{pair}}
	return p, nil
}

// clientTLS is the TLS config a skiff client config (admin.conf) describes,
// built here because the bench brings its own shared transport; nil for a
// cluster run with --insecure-bench-only.
func clientTLS(cfg *client.Config) (*tls.Config, error) {
	if cfg.CertificateAuthority == "" && cfg.ClientCertificate == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS13}
	if cfg.CertificateAuthority != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(cfg.CertificateAuthority)) {
			return nil, errors.New("admin.conf: certificateAuthority holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if cfg.ClientCertificate != "" {
		pair, err := tls.X509KeyPair([]byte(cfg.ClientCertificate), []byte(cfg.ClientKey))
		if err != nil {
			return nil, fmt.Errorf("admin.conf: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}
