package scheduling

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// PodInfo is a pod with what the plugins need from it computed once: when
// the pod enters the queue or a node, never per node.
type PodInfo struct {
	Pod *corev1.Pod
	// Requests is what the pod reserves ([PodRequests]); NonZeroRequests
	// counts containers without requests at the defaults, for scoring.
	Requests        Resource
	NonZeroRequests Resource
	// HostPorts are the host ports of its containers and sidecars.
	HostPorts []HostPort
	// Owner is the UID of its controller (ownerReference with
	// controller: true), or "".
	Owner types.UID
	// NodeSelector is spec.nodeSelector and the required node affinity
	// compiled together; nil when the pod has neither.
	NodeSelector *NodeMatcher
	// PreferredNodeTerms are its preferred node affinity terms.
	PreferredNodeTerms []WeightedNodeTerm
	// PreferredAntiAffinity are its preferred pod anti-affinity terms over
	// the hostname topology (other topology keys are not supported).
	PreferredAntiAffinity []WeightedPodTerm
}

// HostPort is a port a pod opens on its node.
type HostPort struct {
	IP       string // "0.0.0.0" when unset: every address
	Protocol corev1.Protocol
	Port     int32
}

// WeightedNodeTerm is a preferred node affinity term.
type WeightedNodeTerm struct {
	Weight int64
	Term   NodeTerm
}

// WeightedPodTerm is a preferred pod (anti-)affinity term with its label
// selector compiled.
type WeightedPodTerm struct {
	Weight int64
	// Selector matches the pods the term is about.
	Selector labels.Selector
	// Namespaces the matching pods may be in; nil means every namespace.
	Namespaces sets.Set[string]
}

// Matches reports whether pod is one the term is about.
func (t *WeightedPodTerm) Matches(pod *corev1.Pod) bool {
	if t.Namespaces != nil && !t.Namespaces.Has(pod.Namespace) {
		return false
	}
	return t.Selector.Matches(labels.Set(pod.Labels))
}

// NewPodInfo computes the scheduling view of pod.
func NewPodInfo(pod *corev1.Pod) *PodInfo {
	pi := &PodInfo{
		Pod:             pod,
		Requests:        PodRequests(pod),
		NonZeroRequests: PodNonZeroRequests(pod),
		HostPorts:       podHostPorts(pod),
		Owner:           controllerUID(pod),
		NodeSelector:    newPodNodeMatcher(pod),
	}
	if a := pod.Spec.Affinity; a != nil {
		if na := a.NodeAffinity; na != nil {
			for _, p := range na.PreferredDuringSchedulingIgnoredDuringExecution {
				if p.Weight == 0 {
					continue
				}
				pi.PreferredNodeTerms = append(pi.PreferredNodeTerms,
					WeightedNodeTerm{Weight: int64(p.Weight), Term: compileNodeTerm(p.Preference)})
			}
		}
		if paa := a.PodAntiAffinity; paa != nil {
			for _, p := range paa.PreferredDuringSchedulingIgnoredDuringExecution {
				if t, ok := compilePodTerm(pod, p.Weight, p.PodAffinityTerm); ok {
					pi.PreferredAntiAffinity = append(pi.PreferredAntiAffinity, t)
				}
			}
		}
	}
	return pi
}

// compilePodTerm compiles a preferred pod affinity term of pod; false when
// the term is not one the scheduler supports (a topology other than the
// hostname, a namespace selector other than "all", a bad selector).
func compilePodTerm(pod *corev1.Pod, weight int32, term corev1.PodAffinityTerm) (WeightedPodTerm, bool) {
	if weight == 0 || term.TopologyKey != corev1.LabelHostname {
		return WeightedPodTerm{}, false
	}
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return WeightedPodTerm{}, false
	}
	t := WeightedPodTerm{Weight: int64(weight), Selector: sel}
	switch {
	case term.NamespaceSelector != nil && len(term.NamespaceSelector.MatchLabels) == 0 &&
		len(term.NamespaceSelector.MatchExpressions) == 0:
		// {} selects every namespace.
	case term.NamespaceSelector != nil:
		// Namespace labels are not in the snapshot.
		return WeightedPodTerm{}, false
	case len(term.Namespaces) > 0:
		t.Namespaces = sets.New(term.Namespaces...)
	default:
		t.Namespaces = sets.New(pod.Namespace)
	}
	return t, true
}

func podHostPorts(pod *corev1.Pod) []HostPort {
	var out []HostPort
	add := func(c *corev1.Container) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			hp := HostPort{IP: p.HostIP, Protocol: p.Protocol, Port: p.HostPort}
			if hp.IP == "" {
				hp.IP = anyIP
			}
			if hp.Protocol == "" {
				hp.Protocol = corev1.ProtocolTCP
			}
			out = append(out, hp)
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i])
	}
	return out
}

// controllerUID returns the UID of the pod's controller, or "".
func controllerUID(pod *corev1.Pod) types.UID {
	for _, r := range pod.OwnerReferences {
		if r.Controller != nil && *r.Controller {
			return r.UID
		}
	}
	return ""
}

// IsOurs reports whether this scheduler is the one pod asks for.
func IsOurs(pod *corev1.Pod) bool {
	return pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == corev1.DefaultSchedulerName
}

// isTerminal reports whether the pod's containers are done for good.
func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// NeedsScheduling reports whether pod is ours to place: unbound, not
// terminal, not being deleted, asking for this scheduler.
func NeedsScheduling(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" && !isTerminal(pod) && pod.DeletionTimestamp == nil && IsOurs(pod)
}

// occupiesNode reports whether a bound pod holds resources on its node.
func occupiesNode(pod *corev1.Pod) bool {
	return pod.Spec.NodeName != "" && !isTerminal(pod)
}
