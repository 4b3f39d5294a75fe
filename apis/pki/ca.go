package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Roles a certificate can carry, in its Organization field.
const (
	RoleServer = "skiff:server" // a master
	RoleNode   = "skiff:node"   // an agent
	RoleUser   = "skiff:user"   // a person or a program using the API
	RoleAdmin  = "skiff:admin"  // always allowed everything (the init admin)
)

// CA lifetimes.
const (
	CALifetime          = 10 * 365 * 24 * time.Hour
	DefaultCertLifetime = 90 * 24 * time.Hour
)

// File names of the CA in a data dir.
const (
	CACertFile  = "ca.crt"
	CAKeyFile   = "ca.key"
	CAChainFile = "ca-chain.crt"
)

// ErrCSR wraps every reason a CSR is refused.
var ErrCSR = errors.New("certificate request refused")

// CA signs certificates.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// Bundle is every CA certificate to trust (more than one during a CA
	// rotation), PEM encoded; Cert comes first.
	Bundle []byte
	// Chain is appended to every certificate issued: after a rotation, the
	// new root cross-signed by the old one, so that hosts which trust only
	// the old root still accept the new certificates.
	Chain []byte
}

// NewCA creates a root CA.
func NewCA(name string, now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"skiff"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, Bundle: CertPEM(cert)}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// Digest is the lowercase hex SHA-256 of a certificate's DER bytes: what a
// join token pins.
func Digest(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// CertPEM encodes a certificate.
func CertPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// KeyPEM encodes a private key.
func KeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// ParseCerts reads every certificate of a PEM bundle.
func ParseCerts(pemBytes []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, pemBytes = pem.Decode(pemBytes)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// ParseKey reads an EC private key.
func ParseKey(pemBytes []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM private key found")
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("private key is not ECDSA")
	}
	return ec, nil
}

// Save writes the CA into dir: the bundle readable, the key 0600.
func (ca *CA) Save(dir string) error {
	keyPEM, err := KeyPEM(ca.Key)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, CAKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, CAChainFile), ca.Chain, 0o644); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, CACertFile), ca.Bundle, 0o644)
}

// LoadCA reads a CA saved by Save.
func LoadCA(dir string) (*CA, error) {
	bundle, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	ca, err := ParseCA(bundle, keyPEM)
	if err != nil {
		return nil, err
	}
	chain, err := os.ReadFile(filepath.Join(dir, CAChainFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ca.Chain = chain
	return ca, nil
}

// Rotate makes a new root CA for the cluster: the new root signs from now
// on, both roots are trusted, and the new root cross-signed by the old one
// travels with every new certificate.
func (ca *CA) Rotate(now time.Time) (*CA, error) {
	next, err := NewCA("skiff-ca", now)
	if err != nil {
		return nil, err
	}
	tmpl := *next.Cert
	tmpl.SerialNumber = serial()
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, ca.Cert, &next.Key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("cross-signing the new CA: %w", err)
	}
	cross, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	next.Bundle = append(CertPEM(next.Cert), CertPEM(ca.Cert)...)
	next.Chain = CertPEM(cross)
	return next, nil
}

// ParseCA reads a CA from its bundle (signing certificate first) and key.
func ParseCA(bundle, keyPEM []byte) (*CA, error) {
	certs, err := ParseCerts(bundle)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if !key.PublicKey.Equal(certs[0].PublicKey) {
		return nil, errors.New("the CA key does not belong to the first certificate of the bundle")
	}
	return &CA{Cert: certs[0], Key: key, Bundle: bundle}, nil
}

// Pool returns the trust pool of the bundle.
func (ca *CA) Pool() *x509.CertPool { return PoolOf(ca.Bundle) }

// PoolOf returns a pool of every certificate in a PEM bundle.
func PoolOf(bundle []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(bundle)
	return p
}

// writeFile replaces path atomically (a temporary file renamed over it).
func writeFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
