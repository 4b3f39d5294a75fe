package podnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	cniutils "github.com/containernetworking/cni/pkg/utils"
)

// Network gives pods a network namespace with an address on the node's pod
// network. Implementations are safe for concurrent use; calls for the same id
// are serialized.
type Network interface {
	// Setup creates the namespace of id and attaches it. id must be unique
	// on the host (e.g. "<node>-<pod uid>"); an id already in use gives
	// ErrExists and leaves the existing attachment alone.
	Setup(ctx context.Context, id string, opts SetupOptions) (*Attachment, error)
	// Teardown detaches id and removes its namespace. att may be nil (after
	// a crash): the namespace is then found by id. Tearing down what is
	// already gone succeeds.
	Teardown(ctx context.Context, id string, att *Attachment) error
	// GC tears down every attachment left on the host (namespace files and
	// IP allocations) whose id keep rejects. Call it at agent start, before
	// any Setup, with keep answering for the pods the agent still runs
	// (a nil keep is refused, not read as "keep nothing").
	GC(ctx context.Context, keep func(id string) bool) error
}

// SetupOptions are what a pod asks of its network.
type SetupOptions struct {
	// PortMappings publish container ports on the host (hostPort).
	PortMappings []PortMapping
	// Labels are passed to the plugins as CNI_ARGS (e.g. K8S_POD_NAME).
	// Keys and values must not contain '=' or ';'.
	Labels map[string]string
}

// PortMapping publishes ContainerPort of the pod as HostPort on the host.
type PortMapping struct {
	HostPort      int32
	ContainerPort int32
	// Protocol is "tcp" (the default when empty), "udp" or "sctp".
	Protocol string
	// HostIP limits the mapping to one host address; empty means all.
	HostIP string
}

// Attachment is a pod's network as set up.
type Attachment struct {
	ID string
	// NetNSPath is the bind-mounted namespace file to join containers to.
	NetNSPath string
	// IP is the pod's address on Interface.
	IP net.IP
	// Interface is the pod's interface inside the namespace ("eth0").
	Interface string
}

var (
	// ErrExists means the id already has a network on this host (a
	// namespace file or an IP allocation). Nothing was changed.
	ErrExists = errors.New("podnet: id already in use on this host")
	// ErrInvalid means an id, option or config was refused before anything
	// was changed.
	ErrInvalid = errors.New("podnet: invalid argument")
	// ErrNoAddress means the pod network has no free address (Fake), or the
	// plugins returned no IPv4 address for the pod.
	ErrNoAddress = errors.New("podnet: no address")
)

// validateID accepts what CNI accepts as a container id
// ([a-zA-Z0-9][a-zA-Z0-9_.-]*); such an id is also a safe file name.
func validateID(id string) error {
	if err := cniutils.ValidateContainerID(id); err != nil {
		return fmt.Errorf("%w: id %q: %s", ErrInvalid, id, err.Msg)
	}
	if len(id) > 200 {
		return fmt.Errorf("%w: id %q: longer than 200 bytes", ErrInvalid, id)
	}
	return nil
}

// validateOptions checks what the plugins would otherwise fail on halfway.
func validateOptions(opts SetupOptions) error {
	for k, v := range opts.Labels {
		if k == "" || strings.ContainsAny(k, "=;") || strings.ContainsAny(v, "=;") {
			return fmt.Errorf("%w: label %q=%q: CNI_ARGS cannot carry '=' or ';' (or an empty key)", ErrInvalid, k, v)
		}
	}
	for _, pm := range opts.PortMappings {
		if pm.HostPort <= 0 || pm.HostPort > 65535 || pm.ContainerPort <= 0 || pm.ContainerPort > 65535 {
			return fmt.Errorf("%w: port mapping %d->%d: ports must be 1-65535", ErrInvalid, pm.HostPort, pm.ContainerPort)
		}
		switch strings.ToLower(pm.Protocol) {
		case "", "tcp", "udp", "sctp":
		default:
			return fmt.Errorf("%w: port mapping %d: protocol %q", ErrInvalid, pm.HostPort, pm.Protocol)
		}
		if pm.HostIP != "" && net.ParseIP(pm.HostIP) == nil {
			return fmt.Errorf("%w: port mapping %d: host IP %q", ErrInvalid, pm.HostPort, pm.HostIP)
		}
	}
	return nil
}
