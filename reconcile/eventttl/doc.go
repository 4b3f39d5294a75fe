// Package eventttl deletes events older than their time to live (one hour,
// as Kubernetes keeps them), so that a busy cluster's store does not fill up
// with history.
package eventttl
