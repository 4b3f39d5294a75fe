package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/pki"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// caPath mirrors the API's CA endpoint.
const caPath = "/cluster/v1/ca"

// fetchPinnedCA fetches the CA bundle of the master at target and returns
// the certificate the token pins. Nothing the server says is trusted
// before its CA matches the token: a man in the middle with another CA is
// refused here.
func fetchPinnedCA(ctx context.Context, target string, tok pki.Token) (*x509.Certificate, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+target+caPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the CA from %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the CA from %s: %s", target, strings.TrimSpace(string(body)))
	}
	certs, err := pki.ParseCerts(body)
	if err != nil {
		return nil, fmt.Errorf("the CA from %s: %w", target, err)
	}
	var digests []string
	for _, c := range certs {
		if tok.PinsCA(c) {
			return c, nil
		}
		digests = append(digests, pki.Digest(c))
	}
	return nil, fmt.Errorf("%w: %s presents CA sha256 %s, the token expects %s; refusing to join (a man in the middle, or a token of another cluster)",
		pki.ErrCAMismatch, target, strings.Join(digests, ","), tok.CADigest)
}

// pinnedClient talks to target trusting only the pinned CA certificate.
// certPEM and keyPEM, when given, are the client's credentials.
func pinnedClient(target string, ca *x509.Certificate, certPEM, keyPEM []byte) (*client.Client, error) {
	cfg := &client.Config{Servers: []string{"https://" + target}, CertificateAuthority: string(pki.CertPEM(ca)),
		ClientCertificate: string(certPEM), ClientKey: string(keyPEM)}
	return client.New(cfg, client.Options{Timeout: 60 * time.Second})
}

// isPermanent tells a refusal (bad token, bad request) from a cluster that
// cannot answer yet.
func isPermanent(err error) bool {
	if errors.Is(err, pki.ErrCAMismatch) || errors.Is(err, pki.ErrMalformedToken) {
		return true
	}
	var se apierrors.APIStatus
	return errors.As(err, &se) && se.Status().Code < 500
}
