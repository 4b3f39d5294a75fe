// Package manifest reads Kubernetes-shaped manifests: multi-document YAML or
// JSON, decoded strictly into the registered type. A field Kubernetes does
// not define (a typo) is an error naming it; a field Kubernetes defines but
// skiff does not act on yet is accepted with a warning naming it.
package manifest
