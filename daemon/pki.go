package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/skiffhq/skiff/apis/pki"
	"github.com/skiffhq/skiff/apis/secretbox"
)

// File names in a master's data dir.
const (
	serverCertName = "server" // server.crt, server.key
	keyringFile    = "keyring.json"
)

// masterPKI is a master's share of the cluster's security: the CA (every
// master can sign), its own server certificate, and the secrets keyring.
type masterPKI struct {
	dir      string
	lifetime time.Duration
	hosts    []string

	// issueMu serializes re-issuing this master's certificate (renewal and
	// CA rotation may meet).
	issueMu sync.Mutex
	mu      sync.RWMutex
	ca      *pki.CA
	// caChanged is closed (and replaced) when the CA is rotated.
	caChanged chan struct{}
	server    *pki.KeyPair
	keys      *secretbox.Keyring
}

// hostsOf returns the hosts a master's certificate is valid for.
func hostsOf(addrs ...string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(h string) {
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err == nil {
			add(host)
		}
	}
	add("127.0.0.1")
	add("localhost")
	if h, err := os.Hostname(); err == nil {
		add(h)
	}
	return out
}

// initPKI creates the cluster CA, this master's certificate and the
// secrets keyring in dir.
func initPKI(dir, id string, hosts []string, lifetime time.Duration) (*masterPKI, error) {
	ca, err := pki.NewCA("skiff-ca", time.Now())
	if err != nil {
		return nil, err
	}
	if err := ca.Save(dir); err != nil {
		return nil, err
	}
	keys, err := secretbox.CreateKeyring(filepath.Join(dir, keyringFile))
	if err != nil {
		return nil, err
	}
	m := &masterPKI{dir: dir, lifetime: lifetime, hosts: hosts, ca: ca, keys: keys}
	if err := m.issueServerCert(id); err != nil {
		return nil, err
	}
	return m, nil
}

// loadPKI reads what initPKI or a join left in dir.
func loadPKI(dir string, hosts []string, lifetime time.Duration) (*masterPKI, error) {
	ca, err := pki.LoadCA(dir)
	if err != nil {
		return nil, fmt.Errorf("loading the cluster CA: %w", err)
	}
	keys, err := secretbox.LoadKeyring(filepath.Join(dir, keyringFile))
	if err != nil {
		return nil, fmt.Errorf("loading the secrets keyring: %w", err)
	}
	certPEM, keyPEM, err := pki.LoadKeyPairFiles(dir, serverCertName)
	if err != nil {
		return nil, fmt.Errorf("loading this master's certificate: %w", err)
	}
	server, err := pki.NewKeyPair(certPEM, keyPEM, ca.Bundle)
	if err != nil {
		return nil, err
	}
	return &masterPKI{dir: dir, lifetime: lifetime, hosts: hosts, ca: ca, server: server, keys: keys}, nil
}

// savePKI stores the credentials a join brought.
func savePKI(dir string, bundle, caKey, chain, certPEM, keyPEM, keyring []byte, hosts []string, lifetime time.Duration) (*masterPKI, error) {
	ca, err := pki.ParseCA(bundle, caKey)
	if err != nil {
		return nil, err
	}
	ca.Chain = chain
	if err := ca.Save(dir); err != nil {
		return nil, err
	}
	keys, err := secretbox.KeyringFrom(filepath.Join(dir, keyringFile), keyring)
	if err != nil {
		return nil, err
	}
	if err := pki.SaveKeyPair(dir, serverCertName, certPEM, keyPEM); err != nil {
		return nil, err
	}
	server, err := pki.NewKeyPair(certPEM, keyPEM, ca.Bundle)
	if err != nil {
		return nil, err
	}
	return &masterPKI{dir: dir, lifetime: lifetime, hosts: hosts, ca: ca, server: server, keys: keys}, nil
}

// CAChanged returns a channel closed at the next CA rotation.
func (m *masterPKI) CAChanged() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.caChanged == nil {
		m.caChanged = make(chan struct{})
	}
	return m.caChanged
}

// CA returns the current CA.
func (m *masterPKI) CA() *pki.CA {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.ca
}

func (m *masterPKI) issueServerCert(id string) error {
	m.issueMu.Lock()
	defer m.issueMu.Unlock()
	certPEM, keyPEM, err := m.CA().Issue(pki.IssueOptions{
		Identity: pki.Identity{Name: pki.ServerName(id), Role: pki.RoleServer},
		Hosts:    m.hosts, Lifetime: m.lifetime,
	})
	if err != nil {
		return err
	}
	if err := pki.SaveKeyPair(m.dir, serverCertName, certPEM, keyPEM); err != nil {
		return err
	}
	if m.server == nil {
		m.server, err = pki.NewKeyPair(certPEM, keyPEM, m.CA().Bundle)
		return err
	}
	m.server.SetTrust(m.CA().Bundle)
	return m.server.Set(certPEM, keyPEM)
}

// renewLoop re-issues this master's certificate at two thirds of its
// lifetime; connections pick the new one up without a restart.
func (m *masterPKI) renewLoop(ctx context.Context, id string, log *slog.Logger) {
	for {
		wait := time.Until(pki.RenewAt(m.server.Leaf()))
		if wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		if err := m.issueServerCert(id); err != nil {
			log.Error("renewing this master's certificate", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Minute):
			}
			continue
		}
		log.Info("renewed this master's certificate", "notAfter", m.server.Leaf().NotAfter)
	}
}

// adopt switches to a rotated CA (bundle, signing key, cross-signed
// chain): saved, trusted, and this master's certificate re-issued from it.
func (m *masterPKI) adopt(id string, bundle, keyPEM, chain []byte) (bool, error) {
	ca, err := pki.ParseCA(bundle, keyPEM)
	if err != nil {
		return false, err
	}
	ca.Chain = chain
	if cur := m.CA(); cur.Cert.Equal(ca.Cert) {
		return false, nil
	}
	if err := ca.Save(m.dir); err != nil {
		return false, err
	}
	m.mu.Lock()
	m.ca = ca
	if m.caChanged != nil {
		close(m.caChanged)
	}
	m.caChanged = make(chan struct{})
	m.mu.Unlock()
	return true, m.issueServerCert(id)
}

// wireCA is how masters hand a rotated CA to each other.
type wireCA struct {
	Bundle []byte `json:"bundle"`
	Key    []byte `json:"key"`
	Chain  []byte `json:"chain"`
}

func (m *masterPKI) wire() (*wireCA, error) {
	ca := m.CA()
	keyPEM, err := pki.KeyPEM(ca.Key)
	if err != nil {
		return nil, err
	}
	return &wireCA{Bundle: ca.Bundle, Key: keyPEM, Chain: ca.Chain}, nil
}

// adminCredentials issues a client certificate for the cluster admin.
func (m *masterPKI) adminCredentials() (certPEM, keyPEM []byte, err error) {
	return m.CA().Issue(pki.IssueOptions{
		Identity: pki.Identity{Name: pki.UserName("admin"), Role: pki.RoleAdmin},
		Lifetime: userCertLifetime,
	})
}

// userCertLifetime: people renew their config by asking for a new one.
const userCertLifetime = 365 * 24 * time.Hour

var errNoPKI = errors.New("this data dir holds Raft state but no cluster CA (created by an older skiff?)")
