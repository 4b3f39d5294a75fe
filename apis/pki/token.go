package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Join tokens look like SKIFF1-<CA digest>-<secret>: the lowercase hex
// SHA-256 of the cluster CA certificate, which the joining host checks
// before it trusts anything, and a random secret (160 bits when skiff makes
// it; at least 128 accepted) that proves the host may join. The cluster
// stores only the secret's SHA-256; its first 12 hex digits are the
// token's ID.
const TokenPrefix = "SKIFF1-"

const (
	secretBytes    = 20
	minSecretChars = 32
)

// Errors telling a malformed token from a wrong one.
var (
	ErrMalformedToken = errors.New("malformed join token")
	ErrWrongToken     = errors.New("join token not accepted")
	// ErrCAMismatch: the server's CA is not the one the token names.
	ErrCAMismatch = errors.New("the server's CA does not match the join token")
)

// Token is a parsed join token.
type Token struct {
	CADigest string
	Secret   string
}

// NewToken makes a token for the CA.
func NewToken(ca *x509.Certificate) (Token, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Token{}, err
	}
	return Token{CADigest: Digest(ca), Secret: hex.EncodeToString(b[:])}, nil
}

func (t Token) String() string { return TokenPrefix + t.CADigest + "-" + t.Secret }

// SecretHash is what the cluster stores.
func (t Token) SecretHash() string {
	sum := sha256.Sum256([]byte(t.Secret))
	return hex.EncodeToString(sum[:])
}

// ID names the token without revealing it.
func (t Token) ID() string { return t.SecretHash()[:12] }

// Matches compares the secret with a stored hash in constant time.
func (t Token) Matches(hash string) bool {
	return subtle.ConstantTimeCompare([]byte(t.SecretHash()), []byte(hash)) == 1
}

// PinsCA reports whether cert is the CA the token names.
func (t Token) PinsCA(cert *x509.Certificate) bool {
	return subtle.ConstantTimeCompare([]byte(Digest(cert)), []byte(t.CADigest)) == 1
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// ParseToken reads a token, telling what is wrong with a malformed one.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Token{}, fmt.Errorf("%w: it is empty", ErrMalformedToken)
	}
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok {
		return Token{}, fmt.Errorf("%w: it must start with %q", ErrMalformedToken, TokenPrefix)
	}
	digest, secret, ok := strings.Cut(rest, "-")
	if !ok {
		return Token{}, fmt.Errorf("%w: it must be %s<CA digest>-<secret>", ErrMalformedToken, TokenPrefix)
	}
	if len(digest) != 64 || !isLowerHex(digest) {
		return Token{}, fmt.Errorf("%w: the CA digest must be 64 lowercase hex digits", ErrMalformedToken)
	}
	if len(secret) < minSecretChars || !isLowerHex(secret) {
		return Token{}, fmt.Errorf("%w: the secret must be at least %d lowercase hex digits", ErrMalformedToken, minSecretChars)
	}
	return Token{CADigest: digest, Secret: secret}, nil
}
