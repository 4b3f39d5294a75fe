package scheduling

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// anyIP is the host IP a port without hostIP binds: every address.
const anyIP = "0.0.0.0"

// LabelZone is the node label SpreadByOwner spreads across, besides nodes.
const LabelZone = corev1.LabelTopologyZone

// NodeInfo is one node with the pods bound or assumed on it and their sums.
// It is updated incrementally; nothing in it is recomputed from all pods.
type NodeInfo struct {
	// Node is nil while pods name a node the snapshot has not seen (yet).
	Node *corev1.Node
	Name string
	// Zone is the node's topology.kubernetes.io/zone label, or "".
	Zone string
	// Ready is the status of the node's Ready condition (False when it
	// has none), read once per node change rather than per filter call.
	Ready corev1.ConditionStatus
	// Allocatable is what the node offers (status.allocatable, or capacity
	// when the node reports no allocatable).
	Allocatable Resource
	// Requested is what its pods request; Pods counts the pods.
	Requested Resource
	// NonZeroRequested counts requests the way the scorers do.
	NonZeroRequested Resource
	// Pods are the pods on the node, in no particular order.
	Pods []*PodInfo
	// PodsWithAntiAffinity are the pods on the node that have preferred
	// anti-affinity terms.
	PodsWithAntiAffinity []*PodInfo
	// OwnerCounts counts the node's pods per controller UID.
	OwnerCounts map[types.UID]int

	podIndex map[types.UID]int
	ports    map[portKey]map[string]int // protocol/port -> host IP -> users
}

type portKey struct {
	protocol corev1.Protocol
	port     int32
}

// NewNodeInfo returns the info of a node without pods.
func NewNodeInfo(node *corev1.Node) *NodeInfo {
	n := &NodeInfo{
		OwnerCounts: map[types.UID]int{},
		podIndex:    map[types.UID]int{},
		ports:       map[portKey]map[string]int{},
	}
	n.SetNode(node)
	return n
}

// SetNode replaces the node object, keeping the pods.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.Node = node
	if node == nil {
		n.Zone, n.Allocatable = "", Resource{}
		return
	}
	n.Name = node.Name
	n.Zone = nodeZone(node)
	n.Ready = corev1.ConditionFalse
	for i := range node.Status.Conditions {
		if c := &node.Status.Conditions[i]; c.Type == corev1.NodeReady {
			n.Ready = c.Status
			break
		}
	}
	alloc := node.Status.Allocatable
	if len(alloc) == 0 {
		alloc = node.Status.Capacity
	}
	n.Allocatable = ResourceFromList(alloc)
}

func nodeZone(node *corev1.Node) string {
	if z, ok := node.Labels[LabelZone]; ok {
		return z
	}
	return node.Labels[corev1.LabelFailureDomainBetaZone]
}

// AddPod accounts pi on the node. The caller makes sure it is not there yet.
func (n *NodeInfo) AddPod(pi *PodInfo) {
	n.podIndex[pi.Pod.UID] = len(n.Pods)
	n.Pods = append(n.Pods, pi)
	if len(pi.PreferredAntiAffinity) > 0 {
		n.PodsWithAntiAffinity = append(n.PodsWithAntiAffinity, pi)
	}
	n.Requested.Add(pi.Requests)
	n.NonZeroRequested.Add(pi.NonZeroRequests)
	if pi.Owner != "" {
		n.OwnerCounts[pi.Owner]++
	}
	for _, hp := range pi.HostPorts {
		k := portKey{hp.Protocol, hp.Port}
		ips := n.ports[k]
		if ips == nil {
			ips = map[string]int{}
			n.ports[k] = ips
		}
		ips[hp.IP]++
	}
}

// RemovePod takes the pod with uid off the node; false if it was not there.
func (n *NodeInfo) RemovePod(uid types.UID) (*PodInfo, bool) {
	i, ok := n.podIndex[uid]
	if !ok {
		return nil, false
	}
	pi := n.Pods[i]
	last := len(n.Pods) - 1
	n.Pods[i] = n.Pods[last]
	n.podIndex[n.Pods[i].Pod.UID] = i
	n.Pods[last] = nil
	n.Pods = n.Pods[:last]
	delete(n.podIndex, uid)
	if len(pi.PreferredAntiAffinity) > 0 {
		n.PodsWithAntiAffinity = slices.DeleteFunc(n.PodsWithAntiAffinity,
			func(p *PodInfo) bool { return p.Pod.UID == uid })
	}
	n.Requested.Sub(pi.Requests)
	n.NonZeroRequested.Sub(pi.NonZeroRequests)
	if pi.Owner != "" {
		if n.OwnerCounts[pi.Owner]--; n.OwnerCounts[pi.Owner] <= 0 {
			delete(n.OwnerCounts, pi.Owner)
		}
	}
	for _, hp := range pi.HostPorts {
		k := portKey{hp.Protocol, hp.Port}
		if ips := n.ports[k]; ips != nil {
			if ips[hp.IP]--; ips[hp.IP] <= 0 {
				delete(ips, hp.IP)
			}
			if len(ips) == 0 {
				delete(n.ports, k)
			}
		}
	}
	return pi, true
}

// HasPod reports whether the pod with uid is on the node.
func (n *NodeInfo) HasPod(uid types.UID) bool {
	_, ok := n.podIndex[uid]
	return ok
}

// PortInUse reports whether hp conflicts with a port a pod on the node
// uses: same protocol and port, and the same host IP or either one 0.0.0.0.
func (n *NodeInfo) PortInUse(hp HostPort) bool {
	ips := n.ports[portKey{hp.Protocol, hp.Port}]
	if len(ips) == 0 {
		return false
	}
	return hp.IP == anyIP || ips[anyIP] > 0 || ips[hp.IP] > 0
}

// String summarizes the node for logs and test failures.
func (n *NodeInfo) String() string {
	return fmt.Sprintf("%s{pods: %d, cpu: %dm/%dm, memory: %d/%d}", n.Name, len(n.Pods),
		n.Requested.MilliCPU, n.Allocatable.MilliCPU, n.Requested.Memory, n.Allocatable.Memory)
}

// Snapshot is the scheduler's view of the cluster: every node and the pods
// bound to it, plus the pods the scheduler assumed on a node while their
// binding is written. It is not safe for concurrent use; the [Scheduler]
// guards it with a mutex.
type Snapshot struct {
	nodes map[string]*NodeInfo // including nodes only pods know of
	list  []*NodeInfo          // the nodes that exist, by name; nil when stale
	pods  map[types.UID]*podState
	// zoneOwners counts pods per zone per controller UID.
	zoneOwners map[string]map[types.UID]int
	// zoned counts the nodes that carry a zone label.
	zoned int
}

type podState struct {
	info    *PodInfo
	node    string
	assumed bool
	// expires is set once the binding of an assumed pod was written: if no
	// event confirms the pod by then, the assumption is dropped.
	expires time.Time
}

// NewSnapshot builds a snapshot of nodes and the pods bound to them; pods
// that are unbound or terminal are left out.
func NewSnapshot(nodes []*corev1.Node, pods []*corev1.Pod) *Snapshot {
	s := &Snapshot{
		nodes:      make(map[string]*NodeInfo, len(nodes)),
		pods:       make(map[types.UID]*podState, len(pods)),
		zoneOwners: map[string]map[types.UID]int{},
	}
	for _, n := range nodes {
		s.SetNode(n)
	}
	for _, p := range pods {
		s.SetPod(p)
	}
	return s
}

// SetNode adds node or replaces it, keeping its pods.
func (s *Snapshot) SetNode(node *corev1.Node) {
	ni, ok := s.nodes[node.Name]
	if !ok {
		s.nodes[node.Name] = NewNodeInfo(node)
		if nodeZone(node) != "" {
			s.zoned++
		}
		s.list = nil
		return
	}
	if ni.Node == nil {
		s.list = nil
	}
	oldZone := ni.Zone
	if ni.Node != nil && oldZone != "" {
		s.zoned--
	}
	s.moveZoneCounts(ni, -1)
	ni.SetNode(node)
	s.moveZoneCounts(ni, +1)
	if ni.Zone != "" {
		s.zoned++
	}
}

// RemoveNode forgets a node. Its pods stay accounted (under its name) until
// they are removed, as they still hold their resources and ports.
func (s *Snapshot) RemoveNode(name string) {
	ni, ok := s.nodes[name]
	if !ok || ni.Node == nil {
		return
	}
	if ni.Zone != "" {
		s.zoned--
	}
	s.moveZoneCounts(ni, -1)
	ni.SetNode(nil)
	if len(ni.Pods) == 0 {
		delete(s.nodes, name)
	}
	s.list = nil
}

// moveZoneCounts adds (sign +1) or subtracts (-1) the node's owner counts
// to or from its zone's.
func (s *Snapshot) moveZoneCounts(ni *NodeInfo, sign int) {
	if ni.Zone == "" || len(ni.OwnerCounts) == 0 {
		return
	}
	z := s.zoneOwners[ni.Zone]
	if z == nil {
		z = map[types.UID]int{}
		s.zoneOwners[ni.Zone] = z
	}
	for o, c := range ni.OwnerCounts {
		if z[o] += sign * c; z[o] <= 0 {
			delete(z, o)
		}
	}
	if len(z) == 0 {
		delete(s.zoneOwners, ni.Zone)
	}
}

// SetPod records a pod from the store. A pod that holds a node (bound, not
// terminal) is accounted on it, replacing an earlier version or the
// scheduler's assumption; any other pod is removed.
func (s *Snapshot) SetPod(pod *corev1.Pod) {
	if !occupiesNode(pod) {
		s.RemovePod(pod.UID)
		return
	}
	s.RemovePod(pod.UID)
	s.place(NewPodInfo(pod), pod.Spec.NodeName, false)
}

// RemovePod takes a pod off its node, whether bound or assumed.
func (s *Snapshot) RemovePod(uid types.UID) {
	ps, ok := s.pods[uid]
	if !ok {
		return
	}
	delete(s.pods, uid)
	ni := s.nodes[ps.node]
	if ni == nil {
		return
	}
	pi, ok := ni.RemovePod(uid)
	if ok && pi.Owner != "" && ni.Zone != "" {
		z := s.zoneOwners[ni.Zone]
		if z[pi.Owner]--; z[pi.Owner] <= 0 {
			delete(z, pi.Owner)
		}
		if len(z) == 0 {
			delete(s.zoneOwners, ni.Zone)
		}
	}
	if ni.Node == nil && len(ni.Pods) == 0 {
		delete(s.nodes, ps.node)
	}
}

func (s *Snapshot) place(pi *PodInfo, node string, assumed bool) {
	ni, ok := s.nodes[node]
	if !ok {
		ni = NewNodeInfo(nil)
		ni.Name = node
		s.nodes[node] = ni
	}
	ni.AddPod(pi)
	if pi.Owner != "" && ni.Zone != "" {
		z := s.zoneOwners[ni.Zone]
		if z == nil {
			z = map[types.UID]int{}
			s.zoneOwners[ni.Zone] = z
		}
		z[pi.Owner]++
	}
	s.pods[pi.Pod.UID] = &podState{info: pi, node: node, assumed: assumed}
}

// ErrAlreadyPlaced: the pod is already bound or assumed.
var ErrAlreadyPlaced = errors.New("pod is already on a node")

// ErrNoSuchNode: the node is not in the snapshot.
var ErrNoSuchNode = errors.New("no such node")

// Assume accounts pi on node before its binding is written, so that the
// next pods see it.
func (s *Snapshot) Assume(pi *PodInfo, node string) error {
	if _, ok := s.pods[pi.Pod.UID]; ok {
		return fmt.Errorf("assume %s/%s: %w", pi.Pod.Namespace, pi.Pod.Name, ErrAlreadyPlaced)
	}
	if ni := s.nodes[node]; ni == nil || ni.Node == nil {
		return fmt.Errorf("assume %s/%s on %s: %w", pi.Pod.Namespace, pi.Pod.Name, node, ErrNoSuchNode)
	}
	s.place(pi, node, true)
	return nil
}

// Forget drops an assumption whose binding failed. A pod the store has
// confirmed meanwhile stays.
func (s *Snapshot) Forget(uid types.UID) {
	if ps, ok := s.pods[uid]; ok && ps.assumed {
		s.RemovePod(uid)
	}
}

// FinishBinding notes that an assumed pod's binding was written: the
// assumption lasts until the store's event confirms the pod, or until
// expires, whichever comes first.
func (s *Snapshot) FinishBinding(uid types.UID, expires time.Time) {
	if ps, ok := s.pods[uid]; ok && ps.assumed {
		ps.expires = expires
	}
}

// ExpireAssumed drops assumptions whose binding finished and expired
// before now, and returns how many.
func (s *Snapshot) ExpireAssumed(now time.Time) int {
	n := 0
	for uid, ps := range s.pods {
		if ps.assumed && !ps.expires.IsZero() && now.After(ps.expires) {
			s.RemovePod(uid)
			n++
		}
	}
	return n
}

// IsAssumed reports whether the pod is assumed and not yet confirmed.
func (s *Snapshot) IsAssumed(uid types.UID) bool {
	ps, ok := s.pods[uid]
	return ok && ps.assumed
}

// NodeOf returns the node a pod is bound or assumed on.
func (s *Snapshot) NodeOf(uid types.UID) (string, bool) {
	ps, ok := s.pods[uid]
	if !ok {
		return "", false
	}
	return ps.node, true
}

// Node returns the info of an existing node, or nil.
func (s *Snapshot) Node(name string) *NodeInfo {
	if ni := s.nodes[name]; ni != nil && ni.Node != nil {
		return ni
	}
	return nil
}

// Nodes returns the existing nodes ordered by name. The slice is shared:
// callers must not change it.
func (s *Snapshot) Nodes() []*NodeInfo {
	if s.list == nil {
		s.list = make([]*NodeInfo, 0, len(s.nodes))
		for _, ni := range s.nodes {
			if ni.Node != nil {
				s.list = append(s.list, ni)
			}
		}
		slices.SortFunc(s.list, func(a, b *NodeInfo) int { return strings.Compare(a.Name, b.Name) })
	}
	return s.list
}

// NumPods counts the pods bound or assumed.
func (s *Snapshot) NumPods() int { return len(s.pods) }

// HasZones reports whether any node carries a zone label.
func (s *Snapshot) HasZones() bool { return s.zoned > 0 }

// ZoneOwnerCount counts the pods of a controller in a zone.
func (s *Snapshot) ZoneOwnerCount(zone string, owner types.UID) int {
	return s.zoneOwners[zone][owner]
}
