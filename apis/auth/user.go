package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/skiffhq/skiff/apis/pki"
)

// Roles a user can have.
const (
	RoleAdmin  = "admin"
	RoleEdit   = "edit"
	RoleView   = "view"
	RoleNode   = "node"
	RoleServer = "server"
)

// UserRoles are the roles `skiff user create` may give.
var UserRoles = []string{RoleAdmin, RoleEdit, RoleView}

// User is an authenticated caller.
type User struct {
	// Name is the certificate's name: "user:alice", "node:n1", "server:m1".
	Name string
	Role string
	// Namespace scopes a user's role to one namespace ("" = all).
	Namespace string
	// Node is the node name of a node's certificate.
	Node string
	// Hosts are the DNS names and IPs the certificate is valid for (a
	// renewal keeps them).
	Hosts []string
}

func (u User) String() string {
	s := fmt.Sprintf("%q (role %s", u.Name, u.Role)
	if u.Namespace != "" {
		s += ", namespace " + u.Namespace
	}
	return s + ")"
}

// Errors of authentication.
var (
	ErrNoCredentials = errors.New("no client certificate: this endpoint needs one from the cluster CA (see admin.conf or `skiff user create`)")
	ErrUnknownUser   = errors.New("the certificate's user does not exist (deleted?)")
)

// UserLookup returns a user's role and namespace from the cluster's User
// objects; found is false when there is no such user.
type UserLookup func(ctx context.Context, name string) (role, namespace string, found bool, err error)

// Authenticator reads the verified client certificate of a request.
type Authenticator struct {
	Users UserLookup
}

// Authenticate returns the caller of r. The TLS layer has already verified
// the certificate against the cluster CA.
func (a *Authenticator) Authenticate(r *http.Request) (User, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return User{}, ErrNoCredentials
	}
	return a.FromCertificate(r.Context(), r.TLS.VerifiedChains[0][0])
}

// FromCertificate maps a certificate's identity to a user.
func (a *Authenticator) FromCertificate(ctx context.Context, cert *x509.Certificate) (User, error) {
	u, err := a.fromCertificate(ctx, cert)
	if err != nil {
		return u, err
	}
	u.Hosts = append(u.Hosts, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		u.Hosts = append(u.Hosts, ip.String())
	}
	return u, nil
}

func (a *Authenticator) fromCertificate(ctx context.Context, cert *x509.Certificate) (User, error) {
	id := pki.IdentityOf(cert)
	switch id.Role {
	case pki.RoleAdmin:
		return User{Name: id.Name, Role: RoleAdmin}, nil
	case pki.RoleServer:
		return User{Name: id.Name, Role: RoleServer}, nil
	case pki.RoleNode:
		node, ok := strings.CutPrefix(id.Name, "node:")
		if !ok || node == "" {
			return User{}, fmt.Errorf("node certificate with a malformed name %q", id.Name)
		}
		return User{Name: id.Name, Role: RoleNode, Node: node}, nil
	case pki.RoleUser:
		name, ok := strings.CutPrefix(id.Name, "user:")
		if !ok || name == "" || a.Users == nil {
			return User{}, fmt.Errorf("user certificate with a malformed name %q", id.Name)
		}
		role, ns, found, err := a.Users(ctx, name)
		if err != nil {
			return User{}, err
		}
		if !found {
			return User{}, fmt.Errorf("%w: %s", ErrUnknownUser, name)
		}
		return User{Name: id.Name, Role: role, Namespace: ns}, nil
	}
	return User{}, fmt.Errorf("certificate with an unknown role %q", id.Role)
}
