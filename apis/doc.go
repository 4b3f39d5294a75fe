// Package apis holds what every part of skiff shares about resources: the
// Object interface, the resource registry (resources/), validation, manifest
// decoding, the HTTP API server (server/) and its Go client (client/).
//
// Resource types are Kubernetes' own (k8s.io/api) wherever Kubernetes defines
// the kind, so that ordinary manifests load unchanged; skiff's own kinds live
// in skiffv1/.
package apis
