// Package validation checks objects before they are stored. Every error
// names the field and the rule it breaks, in Kubernetes' field.Error shape,
// so the API can answer 422 with a message a user can act on. One file per
// resource family; the rules follow Kubernetes' where skiff serves the kind.
package validation
