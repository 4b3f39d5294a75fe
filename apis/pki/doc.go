// Package pki is skiff's certificate authority: the cluster root CA
// (ECDSA P-256), certificates for masters, nodes and users issued from
// CSRs, the CA digest that join tokens pin, and TLS settings (TLS 1.3 only)
// whose certificates renew themselves without a restart.
package pki
