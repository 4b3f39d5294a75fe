package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"time"
)

// MaxCSRBytes bounds a PEM CSR; a P-256 request is well under 1 KiB.
const MaxCSRBytes = 8 << 10

// Identity is who a certificate names: CommonName is the name ("server:m1",
// "node:n2", "user:alice"), Organization the role, and an optional
// OrganizationalUnit "namespace:<ns>" scopes a user to a namespace.
type Identity struct {
	Name      string
	Role      string
	Namespace string
}

// Names of identities.
func ServerName(id string) string { return "server:" + id }
func NodeName(node string) string { return "node:" + node }
func UserName(user string) string { return "user:" + user }

// IdentityOf reads the identity a certificate carries.
func IdentityOf(cert *x509.Certificate) Identity {
	id := Identity{Name: cert.Subject.CommonName}
	if len(cert.Subject.Organization) > 0 {
		id.Role = cert.Subject.Organization[0]
	}
	for _, ou := range cert.Subject.OrganizationalUnit {
		if ns, ok := strings.CutPrefix(ou, "namespace:"); ok {
			id.Namespace = ns
		}
	}
	return id
}

// IssueOptions describe a certificate to issue.
type IssueOptions struct {
	Identity
	// Hosts are DNS names or IP addresses a server certificate is valid for.
	Hosts []string
	// Lifetime defaults to DefaultCertLifetime.
	Lifetime time.Duration
	Now      time.Time
}

func (ca *CA) template(opts IssueOptions) *x509.Certificate {
	if opts.Lifetime == 0 {
		opts.Lifetime = DefaultCertLifetime
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	subject := pkix.Name{CommonName: opts.Name, Organization: []string{opts.Role}}
	if opts.Namespace != "" {
		subject.OrganizationalUnit = []string{"namespace:" + opts.Namespace}
	}
	t := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      subject,
		NotBefore:    opts.Now.Add(-5 * time.Minute),
		NotAfter:     opts.Now.Add(opts.Lifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	for _, h := range opts.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			t.IPAddresses = append(t.IPAddresses, ip)
		} else if h != "" {
			t.DNSNames = append(t.DNSNames, h)
		}
	}
	if t.NotAfter.After(ca.Cert.NotAfter) {
		t.NotAfter = ca.Cert.NotAfter
	}
	return t
}

// Issue makes a new key and a certificate for it (a master issuing its own
// or an admin's certificate; it holds the CA key).
func (ca *CA) Issue(opts IssueOptions) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, ca.template(opts), ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = KeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.Chain...), keyPEM, nil
}

// Sign issues a certificate for a CSR. The identity comes from opts, which
// the caller derived from what it trusts (a token's role, a certificate
// already held); the CSR must ask for exactly that name.
func (ca *CA) Sign(csrPEM []byte, opts IssueOptions) ([]byte, error) {
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	if csr.Subject.CommonName != opts.Name {
		return nil, fmt.Errorf("%w: it asks for the name %q, but this request may only obtain %q", ErrCSR, csr.Subject.CommonName, opts.Name)
	}
	der, err := x509.CreateCertificate(rand.Reader, ca.template(opts), ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.Chain...), nil
}

// ParseCSR reads and checks a CSR: size, signature, and an ECDSA P-256 key.
func ParseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	if len(csrPEM) > MaxCSRBytes {
		return nil, fmt.Errorf("%w: %d bytes is more than the %d a CSR may have", ErrCSR, len(csrPEM), MaxCSRBytes)
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: not a PEM CERTIFICATE REQUEST", ErrCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: bad signature: %v", ErrCSR, err)
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: the key must be ECDSA P-256", ErrCSR)
	}
	return csr, nil
}

// NewCSR makes a key and a CSR for name.
func NewCSR(name string) (csrPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = KeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), keyPEM, nil
}
