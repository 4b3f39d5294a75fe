package daemon

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Join tokens look like SKIFF1-<secret>, the secret being 32 random bytes
// in lowercase hex. Only the secret's SHA-256 is stored in the cluster; the
// first 12 hex digits of that hash are the token's ID.
const tokenPrefix = "SKIFF1-"

// Errors telling a malformed token from a wrong one.
var (
	ErrMalformedToken = errors.New("malformed join token")
	ErrWrongToken     = errors.New("join token not accepted")
)

type joinToken struct {
	secret string
}

func newJoinToken() (joinToken, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return joinToken{}, err
	}
	return joinToken{secret: hex.EncodeToString(b[:])}, nil
}

func (t joinToken) String() string { return tokenPrefix + t.secret }

func (t joinToken) hash() string {
	sum := sha256.Sum256([]byte(t.secret))
	return hex.EncodeToString(sum[:])
}

// ID names the token without revealing it.
func (t joinToken) ID() string { return t.hash()[:12] }

// matches compares the token with a stored hash in constant time.
func (t joinToken) matches(hash string) bool {
	return subtle.ConstantTimeCompare([]byte(t.hash()), []byte(hash)) == 1
}

func parseJoinToken(s string) (joinToken, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, tokenPrefix) {
		return joinToken{}, fmt.Errorf("%w: it must start with %q", ErrMalformedToken, tokenPrefix)
	}
	secret := strings.TrimPrefix(s, tokenPrefix)
	if len(secret) != 64 {
		return joinToken{}, fmt.Errorf("%w: the secret after %q must be 64 hex digits, got %d characters", ErrMalformedToken, tokenPrefix, len(secret))
	}
	if _, err := hex.DecodeString(secret); err != nil || strings.ToLower(secret) != secret {
		return joinToken{}, fmt.Errorf("%w: the secret must be lowercase hex digits", ErrMalformedToken)
	}
	return joinToken{secret: secret}, nil
}
