package scheduling

import (
	"context"
)

// HostPortsName names the [HostPorts] filter.
const HostPortsName = "HostPorts"

// ReasonHostPortConflict is the reason [HostPorts] gives.
const ReasonHostPortConflict = "node(s) didn't have free ports for the requested pod ports"

// HostPorts refuses a node where a pod already uses one of the pod's host
// ports: the same port and protocol on the same host IP, or either side
// bound to every address (0.0.0.0).
type HostPorts struct{}

var _ FilterPlugin = HostPorts{}

// Name returns [HostPortsName].
func (HostPorts) Name() string { return HostPortsName }

// Filter looks the pod's host ports up in the node's used ports.
func (HostPorts) Filter(_ context.Context, _ *CycleState, pod *PodInfo, node *NodeInfo) *Status {
	for _, hp := range pod.HostPorts {
		if node.PortInUse(hp) {
			return NewStatus(Unschedulable, ReasonHostPortConflict)
		}
	}
	return nil
}
