package skiffv1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// JoinRequest is what a host sends, with its join token, to become a master
// (role server) or a node (role worker). It carries a CSR for the name the
// token allows: "server:<id>" or "node:<name>".
type JoinRequest struct {
	Token string `json:"token"`
	Role  string `json:"role"`
	// Name is the joining master's Raft server ID or the node's name.
	Name string `json:"name"`
	// CSR is a PEM certificate request for the host's key.
	CSR string `json:"csr"`
	// RaftAddress and APIAddress are a master's addresses (its
	// certificate is valid for their hosts).
	RaftAddress string `json:"raftAddress,omitempty"`
	APIAddress  string `json:"apiAddress,omitempty"`
}

// JoinResponse carries the host's credentials.
type JoinResponse struct {
	// Certificate is the host's certificate (PEM).
	Certificate string `json:"certificate"`
	// CABundle is every CA certificate to trust (PEM).
	CABundle string `json:"caBundle"`
	// CAKey and Keyring go to masters only: every master can sign
	// certificates and read secrets.
	CAKey   string `json:"caKey,omitempty"`
	CAChain string `json:"caChain,omitempty"`
	Keyring []byte `json:"keyring,omitempty"`
	// APIAddresses lists every master's API address.
	APIAddresses []string `json:"apiAddresses"`
}

// AddMasterRequest makes a master that holds a server certificate a voting
// member of the Raft cluster (the second step of a master's join).
type AddMasterRequest struct {
	ID          string `json:"id"`
	RaftAddress string `json:"raftAddress"`
	APIAddress  string `json:"apiAddress"`
}

// AddMasterResponse names the leader that admitted the master.
type AddMasterResponse struct {
	Leader string `json:"leader"`
}

// RenewRequest asks for a new certificate for the caller's own identity.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// RenewResponse carries the renewed certificate.
type RenewResponse struct {
	Certificate string `json:"certificate"`
	CABundle    string `json:"caBundle"`
}

// TokenRequest asks for a new join token.
type TokenRequest struct {
	Role string `json:"role"`
	// TTLSeconds is how long the token works; 0 = forever, nil = 24 h.
	TTLSeconds  *int64 `json:"ttlSeconds,omitempty"`
	Description string `json:"description,omitempty"`
}

// TokenResponse carries a new token; its secret is shown only this once.
type TokenResponse struct {
	Token   string       `json:"token"`
	ID      string       `json:"id"`
	Expires *metav1.Time `json:"expires,omitempty"`
}

// UserRequest creates a user and certifies its key.
type UserRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Namespace string `json:"namespace,omitempty"`
	CSR       string `json:"csr"`
}

// UserResponse carries what a user's client config needs.
type UserResponse struct {
	Certificate string   `json:"certificate"`
	CABundle    string   `json:"caBundle"`
	Servers     []string `json:"servers"`
}

// RotateKeyResponse reports a secrets key rotation.
type RotateKeyResponse struct {
	KeyID       string `json:"keyID"`
	Reencrypted int    `json:"reencrypted"`
}

// RotateCAResponse reports a CA rotation.
type RotateCAResponse struct {
	// Digest is the new CA's SHA-256, which new join tokens pin.
	Digest string `json:"digest"`
	// Masters counts the masters that took the new CA at once; the others
	// fetch it within a minute.
	Masters int `json:"masters"`
}

// VersionInfo is the answer of /version.
type VersionInfo struct {
	Version   string `json:"gitVersion"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}
