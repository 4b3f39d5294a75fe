package scheduling

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Builders of test nodes and pods.

type nodeOpt func(*corev1.Node)

// makeNode returns a Ready node offering cpu, memory and pods.
func makeNode(name, cpu, mem string, pods int64, opts ...nodeOpt) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(cpu),
				corev1.ResourceMemory: resource.MustParse(mem),
				corev1.ResourcePods:   *resource.NewQuantity(pods, resource.DecimalSI),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func nodeLabels(kv ...string) nodeOpt {
	return func(n *corev1.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func nodeTaint(key, value string, effect corev1.TaintEffect) nodeOpt {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func nodeCordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

func nodeReady(s corev1.ConditionStatus) nodeOpt {
	return func(n *corev1.Node) { n.Status.Conditions[0].Status = s }
}

type podOpt func(*corev1.Pod)

var testEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// makePod returns an unbound pod in namespace default with one container
// and UID equal to its name.
func makePod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "default", UID: types.UID(name), ResourceVersion: "1",
			CreationTimestamp: metav1.NewTime(testEpoch),
		},
		Spec: corev1.PodSpec{
			SchedulerName: corev1.DefaultSchedulerName,
			Containers:    []corev1.Container{{Name: "c", Image: "img"}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func requests(cpu, mem string) podOpt {
	return func(p *corev1.Pod) {
		rl := corev1.ResourceList{}
		if cpu != "" {
			rl[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			rl[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		p.Spec.Containers[0].Resources.Requests = rl
	}
}

func ownedBy(uid string) podOpt {
	return func(p *corev1.Pod) {
		ctrl := true
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Name: uid, UID: types.UID(uid), Controller: &ctrl})
	}
}

func podLabels(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func hostPort(port int32, proto corev1.Protocol, ip string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports,
			corev1.ContainerPort{ContainerPort: 80, HostPort: port, Protocol: proto, HostIP: ip})
	}
}

func nodeSelector(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.NodeSelector = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Spec.NodeSelector[kv[i]] = kv[i+1]
		}
	}
}

func tolerations(t ...corev1.Toleration) podOpt {
	return func(p *corev1.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, t...) }
}

func priority(v int32) podOpt {
	return func(p *corev1.Pod) { p.Spec.Priority = &v }
}

func created(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(testEpoch.Add(d)) }
}

func boundTo(node string) podOpt {
	return func(p *corev1.Pod) { p.Spec.NodeName = node }
}

func requiredTerms(terms ...corev1.NodeSelectorTerm) podOpt {
	return func(p *corev1.Pod) {
		ensureAffinity(p)
		p.Spec.Affinity.NodeAffinity = &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}
	}
}

func preferredTerm(weight int32, term corev1.NodeSelectorTerm) podOpt {
	return func(p *corev1.Pod) {
		ensureAffinity(p)
		if p.Spec.Affinity.NodeAffinity == nil {
			p.Spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
		}
		na := p.Spec.Affinity.NodeAffinity
		na.PreferredDuringSchedulingIgnoredDuringExecution = append(na.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.PreferredSchedulingTerm{Weight: weight, Preference: term})
	}
}

func antiAffinity(weight int32, topologyKey string, matchLabels map[string]string) podOpt {
	return func(p *corev1.Pod) {
		ensureAffinity(p)
		if p.Spec.Affinity.PodAntiAffinity == nil {
			p.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
		}
		a := p.Spec.Affinity.PodAntiAffinity
		a.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: corev1.PodAffinityTerm{
				LabelSelector: &metav1.LabelSelector{MatchLabels: matchLabels}, TopologyKey: topologyKey}})
	}
}

func ensureAffinity(p *corev1.Pod) {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &corev1.Affinity{}
	}
}

func expr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func term(exprs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: exprs}
}

// nodeWith returns the NodeInfo of node holding pods.
func nodeWith(node *corev1.Node, pods ...*corev1.Pod) *NodeInfo {
	ni := NewNodeInfo(node)
	for _, p := range pods {
		ni.AddPod(NewPodInfo(p))
	}
	return ni
}

// filterResult runs a filter and renders its outcome as "" or the message.
func filterResult(f FilterPlugin, pod *corev1.Pod, ni *NodeInfo) string {
	st := f.Filter(context.Background(), NewCycleState(nil), NewPodInfo(pod), ni)
	if st.IsSuccess() {
		return ""
	}
	return fmt.Sprintf("%s: %s", st.Code(), st.Message())
}

// scoreNodes runs one score plugin like the pipeline does (pre-score,
// score, normalize) and returns the scores by node name; nil when skipped.
func scoreNodes(t interface{ Fatalf(string, ...any) }, pl ScorePlugin, snap *Snapshot, pod *corev1.Pod) map[string]int64 {
	ctx := context.Background()
	state := NewCycleState(snap)
	pi := NewPodInfo(pod)
	nodes := snap.Nodes()
	if ps, ok := pl.(PreScorePlugin); ok {
		st := ps.PreScore(ctx, state, pi, nodes)
		if st.Code() == Skip {
			return nil
		}
		if !st.IsSuccess() {
			t.Fatalf("PreScore: %v", st.Err())
		}
	}
	scores := make([]NodeScore, len(nodes))
	for i, n := range nodes {
		s, st := pl.Score(ctx, state, pi, n)
		if !st.IsSuccess() {
			t.Fatalf("Score %s: %v", n.Name, st.Err())
		}
		scores[i] = NodeScore{Node: n, Score: s}
	}
	if nz, ok := pl.(ScoreNormalizer); ok {
		if st := nz.NormalizeScore(ctx, state, pi, scores); !st.IsSuccess() {
			t.Fatalf("NormalizeScore: %v", st.Err())
		}
	}
	out := map[string]int64{}
	for _, s := range scores {
		out[s.Node.Name] = s.Score
	}
	return out
}

func setOf(s ...string) sets.Set[string] { return sets.New(s...) }
