package envvars

import (
	"errors"
)

// Reason is the waiting reason Kubernetes shows for a container whose
// configuration cannot be resolved; the agent uses it for a *ConfigError.
const Reason = "CreateContainerConfigError"

// Sentinels a *ConfigError wraps; test with errors.Is.
var (
	// ErrObjectNotFound: a ConfigMap or Secret that is not optional does not exist.
	ErrObjectNotFound = errors.New("object not found")
	// ErrKeyNotFound: a key that is not optional is not in its ConfigMap or Secret.
	ErrKeyNotFound = errors.New("key not found")
	// ErrInvalidReference: a field path, resource, container or value
	// source that skiff cannot resolve.
	ErrInvalidReference = errors.New("invalid reference")
)

// ConfigError is a container environment that cannot be built from what the
// pod and the objects it names say; it lasts until the user changes them.
// Its message is the one Kubernetes users know, e.g.
// `configmap "web-config" not found` or
// `couldn't find key greeting in ConfigMap default/web-config`.
type ConfigError struct {
	// Container is the container's name.
	Container string
	// Var is the variable being resolved, empty for an envFrom source.
	Var string
	// Message is shown to the user as is.
	Message string
	// Err is one of ErrObjectNotFound, ErrKeyNotFound, ErrInvalidReference.
	Err error
	// Cause is the underlying error (the source's not-found error), if any.
	Cause error
}

func (e *ConfigError) Error() string { return e.Message }

// Unwrap returns the sentinel and the cause.
func (e *ConfigError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}
