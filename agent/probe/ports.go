package probe

import (
	"errors"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var (
	// ErrUnknownPortName is returned by ResolvePort for a name that none of
	// the container's ports carries.
	ErrUnknownPortName = errors.New("no container port with that name")
	// ErrPortOutOfRange is returned by ResolvePort for a number outside 1–65535.
	ErrPortOutOfRange = errors.New("port out of range 1-65535")
)

// ResolvePort turns a probe's port into a number: an integer is used as
// is, a name is looked up in the container's ports[].name (a name that is
// all digits and matches no port is read as a number, as the kubelet does).
// The container may be nil when the port is a number.
func ResolvePort(port intstr.IntOrString, container *corev1.Container) (int, error) {
	var n int
	switch port.Type {
	case intstr.Int:
		n = int(port.IntVal)
	case intstr.String:
		name := port.StrVal
		if name == "" {
			return 0, fmt.Errorf("resolve port: empty port name: %w", ErrUnknownPortName)
		}
		found := false
		if container != nil {
			for _, cp := range container.Ports {
				if cp.Name == name {
					n, found = int(cp.ContainerPort), true
					break
				}
			}
		}
		if !found {
			num, err := strconv.Atoi(name)
			if err != nil {
				return 0, fmt.Errorf("resolve port %q in container %q: %w", name, containerName(container), ErrUnknownPortName)
			}
			n = num
		}
	default:
		return 0, fmt.Errorf("resolve port: bad IntOrString type %d", port.Type)
	}
	if n < 1 || n > 65535 {
		if port.Type == intstr.String {
			return 0, fmt.Errorf("resolve port %q = %d: %w", port.StrVal, n, ErrPortOutOfRange)
		}
		return 0, fmt.Errorf("resolve port %d: %w", n, ErrPortOutOfRange)
	}
	return n, nil
}

func containerName(c *corev1.Container) string {
	if c == nil {
		return ""
	}
	return c.Name
}
