package endpoint

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/skiffhq/skiff/apis/pki"
)

// ErrNoClientCert: the request carries no client certificate verified
// against the cluster CA.
var ErrNoClientCert = errors.New("no verified client certificate: the agent answers masters only")

// RequireServerCert admits only callers whose verified client certificate
// has role server (O=skiff:server): the masters, which proxy users'
// requests after authorizing them. The agent's TLS config must verify
// client certificates against the cluster CA (VerifyClientCertIfGiven or
// RequireAndVerifyClientCert) for r.TLS.VerifiedChains to be set.
func RequireServerCert(r *http.Request) error {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ErrNoClientCert
	}
	id := pki.IdentityOf(r.TLS.VerifiedChains[0][0])
	if id.Role != pki.RoleServer {
		return fmt.Errorf("%s has role %q: the agent answers masters (role %s) only", id.Name, id.Role, pki.RoleServer)
	}
	return nil
}
