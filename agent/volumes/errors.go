package volumes

import (
	"errors"
	"fmt"
)

// Sentinels a *ConfigError wraps; test with errors.Is.
var (
	// ErrNotSupported: a volume kind, projection, hostPath type or downward
	// API field skiff does not handle.
	ErrNotSupported = errors.New("not supported")
	// ErrObjectNotFound: a ConfigMap or Secret that is not optional does not exist.
	ErrObjectNotFound = errors.New("object not found")
	// ErrKeyNotFound: a key named in items that is not optional is not in
	// its ConfigMap or Secret.
	ErrKeyNotFound = errors.New("key not found")
	// ErrInvalidPath: a file path (a key or items[].path) that is absolute,
	// climbs with "..", starts with ".." or collides with another.
	ErrInvalidPath = errors.New("invalid path")
	// ErrInvalidReference: a downward API reference that cannot be resolved
	// (a resourceFieldRef naming a container not in the pod).
	ErrInvalidReference = errors.New("invalid reference")
	// ErrHostPathType: a hostPath is missing or not of its declared type.
	ErrHostPathType = errors.New("hostPath type check failed")
)

// ErrStillMounted is returned by Cleanup when something under the pod's
// directory is still a mount point after unmounting; nothing is removed
// then, so that a remove never walks into a mounted file system.
var ErrStillMounted = errors.New("still mounted")

// Reasons of a ConfigError: short CamelCase words for events and waiting
// reasons, one per sentinel.
const (
	ReasonNotSupported      = "VolumeNotSupported"
	ReasonObjectNotFound    = "VolumeObjectNotFound"
	ReasonKeyNotFound       = "VolumeKeyNotFound"
	ReasonInvalidPath       = "VolumeInvalidPath"
	ReasonInvalidReference  = "VolumeInvalidReference"
	ReasonHostPathTypeCheck = "HostPathTypeCheckFailed"
)

// ConfigError is a volume that cannot be set up because of what the pod or
// the objects it names say; it lasts until the user changes them. Its
// message names the volume and the object or key, e.g.
// `volume "config": configmap "web-config" not found` or
// `volume "config": key "greeting" not in configmap "web-config"`.
type ConfigError struct {
	// Volume is the pod's name for the volume.
	Volume string
	// Reason is one of the Reason constants.
	Reason string
	// Message says what is wrong, without the volume's name.
	Message string
	// Err is the sentinel (ErrObjectNotFound, ...).
	Err error
	// Cause is the underlying error, if any (the source's not-found error,
	// a stat failure).
	Cause error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("volume %q: %s", e.Volume, e.Message) }

// Unwrap returns the sentinel and the cause.
func (e *ConfigError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

func reasonOf(sentinel error) string {
	switch sentinel {
	case ErrNotSupported:
		return ReasonNotSupported
	case ErrObjectNotFound:
		return ReasonObjectNotFound
	case ErrKeyNotFound:
		return ReasonKeyNotFound
	case ErrInvalidPath:
		return ReasonInvalidPath
	case ErrInvalidReference:
		return ReasonInvalidReference
	case ErrHostPathType:
		return ReasonHostPathTypeCheck
	}
	return ""
}

// configError builds a *ConfigError whose Reason follows from its sentinel.
func configError(volume string, sentinel, cause error, format string, args ...any) *ConfigError {
	return &ConfigError{
		Volume:  volume,
		Reason:  reasonOf(sentinel),
		Message: fmt.Sprintf(format, args...),
		Err:     sentinel,
		Cause:   cause,
	}
}
