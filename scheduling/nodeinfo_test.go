package scheduling

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestSnapshotBuild(t *testing.T) {
	nodes := []*corev1.Node{makeNode("b", "2", "2Gi", 10), makeNode("a", "4", "4Gi", 10)}
	pods := []*corev1.Pod{
		makePod("p1", requests("500m", "256Mi"), boundTo("a"), ownedBy("rs")),
		makePod("p2", requests("1", "512Mi"), boundTo("a"), ownedBy("rs")),
		makePod("p3", boundTo("b")),
		makePod("pending", requests("1", "1Gi")),
		makePod("done", requests("1", "1Gi"), boundTo("a"), func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
	}
	s := NewSnapshot(nodes, pods)
	if got := fmt.Sprint(s.Nodes()); got != "[a{pods: 2, cpu: 1500m/4000m, memory: 805306368/4294967296} b{pods: 1, cpu: 0m/2000m, memory: 0/2147483648}]" {
		t.Errorf("nodes = %s", got)
	}
	if s.NumPods() != 3 {
		t.Errorf("NumPods = %d, want 3 (pending and terminal pods left out)", s.NumPods())
	}
	a := s.Node("a")
	if !a.HasPod("p1") || a.HasPod("p3") {
		t.Error("HasPod")
	}
	if a.OwnerCounts["rs"] != 2 || a.Requested.Pods != 2 {
		t.Errorf("a: owners %v, pods %d", a.OwnerCounts, a.Requested.Pods)
	}
	if got := a.NonZeroRequested; got != (Resource{1500, 768 << 20, 2}) {
		t.Errorf("a: non-zero requested %+v", got)
	}
	if got := s.Node("b").NonZeroRequested; got != (Resource{DefaultMilliCPURequest, DefaultMemoryRequest, 1}) {
		t.Errorf("b: non-zero requested %+v", got)
	}
}

func TestSnapshotPodUpdates(t *testing.T) {
	s := NewSnapshot([]*corev1.Node{makeNode("a", "4", "4Gi", 10), makeNode("b", "4", "4Gi", 10)}, nil)
	s.SetPod(makePod("p", requests("1", ""), boundTo("a")))
	s.SetPod(makePod("p", requests("2", ""), boundTo("a"))) // a new version replaces the old
	if got := s.Node("a").Requested; got != (Resource{MilliCPU: 2000, Pods: 1}) {
		t.Errorf("after update: a requested %+v", got)
	}
	s.SetPod(makePod("p", requests("2", ""), boundTo("b"))) // moved
	if s.Node("a").Requested != (Resource{}) || s.Node("b").Requested.MilliCPU != 2000 {
		t.Errorf("after move: a %+v, b %+v", s.Node("a").Requested, s.Node("b").Requested)
	}
	s.SetPod(makePod("p", requests("2", ""), boundTo("b"), func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }))
	if s.Node("b").Requested != (Resource{}) || s.NumPods() != 0 {
		t.Errorf("terminal pod still accounted: %+v", s.Node("b").Requested)
	}
	s.SetPod(makePod("q", boundTo("b")))
	s.RemovePod("q")
	s.RemovePod("never-seen")
	if s.NumPods() != 0 || len(s.Node("b").Pods) != 0 {
		t.Errorf("RemovePod left %d pods", s.NumPods())
	}
}

func TestSnapshotNodesComeAndGo(t *testing.T) {
	s := NewSnapshot(nil, []*corev1.Pod{makePod("p", requests("1", ""), boundTo("late"))})
	if len(s.Nodes()) != 0 || s.Node("late") != nil {
		t.Fatal("a node only a pod names must not be schedulable")
	}
	s.SetNode(makeNode("late", "4", "4Gi", 10))
	if n := s.Node("late"); n == nil || n.Requested.MilliCPU != 1000 || len(s.Nodes()) != 1 {
		t.Fatalf("node arriving after its pod: %v", s.Nodes())
	}
	s.RemoveNode("late")
	if len(s.Nodes()) != 0 {
		t.Fatal("removed node still listed")
	}
	if node, ok := s.NodeOf("p"); !ok || node != "late" {
		t.Fatal("the pod of a removed node must stay accounted until it goes")
	}
	s.RemovePod("p")
	if len(s.nodes) != 0 {
		t.Fatalf("empty removed node kept: %v", s.nodes)
	}
	s.SetNode(makeNode("x", "1", "1Gi", 10))
	s.SetNode(makeNode("x", "2", "1Gi", 10))
	if got := s.Node("x").Allocatable.MilliCPU; got != 2000 || len(s.Nodes()) != 1 {
		t.Fatalf("updated node: cpu %d, %d nodes", got, len(s.Nodes()))
	}
}

func TestSnapshotZones(t *testing.T) {
	s := NewSnapshot([]*corev1.Node{
		makeNode("a1", "1", "1Gi", 10, nodeLabels(LabelZone, "a")),
		makeNode("a2", "1", "1Gi", 10, nodeLabels(LabelZone, "a")),
		makeNode("x", "1", "1Gi", 10),
	}, []*corev1.Pod{
		makePod("p1", ownedBy("rs"), boundTo("a1")),
		makePod("p2", ownedBy("rs"), boundTo("a2")),
		makePod("p3", ownedBy("rs"), boundTo("x")),
	})
	if !s.HasZones() || s.ZoneOwnerCount("a", "rs") != 2 {
		t.Fatalf("zone a: %d", s.ZoneOwnerCount("a", "rs"))
	}
	s.SetNode(makeNode("a2", "1", "1Gi", 10, nodeLabels(LabelZone, "b"))) // relabelled
	if s.ZoneOwnerCount("a", "rs") != 1 || s.ZoneOwnerCount("b", "rs") != 1 {
		t.Fatalf("after relabel: a %d, b %d", s.ZoneOwnerCount("a", "rs"), s.ZoneOwnerCount("b", "rs"))
	}
	s.RemovePod("p1")
	s.RemoveNode("a2")
	if s.ZoneOwnerCount("a", "rs") != 0 || s.ZoneOwnerCount("b", "rs") != 0 || len(s.zoneOwners) != 0 {
		t.Fatalf("zone counts left: %v", s.zoneOwners)
	}
	s.RemoveNode("a1")
	if s.HasZones() {
		t.Fatal("no zoned node left, HasZones still true")
	}
}

func TestSnapshotAssume(t *testing.T) {
	s := NewSnapshot([]*corev1.Node{makeNode("a", "4", "4Gi", 10), makeNode("b", "4", "4Gi", 10)}, nil)
	p := makePod("p", requests("1", ""))
	if err := s.Assume(NewPodInfo(p), "nowhere"); !errors.Is(err, ErrNoSuchNode) {
		t.Fatalf("assume on unknown node: %v", err)
	}
	if err := s.Assume(NewPodInfo(p), "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Assume(NewPodInfo(p), "b"); !errors.Is(err, ErrAlreadyPlaced) {
		t.Fatalf("assume twice: %v", err)
	}
	if !s.IsAssumed("p") || s.Node("a").Requested.MilliCPU != 1000 {
		t.Fatal("assumed pod not accounted")
	}
	s.Forget("p")
	if s.IsAssumed("p") || s.Node("a").Requested.MilliCPU != 0 {
		t.Fatal("forgotten pod still accounted")
	}

	// Confirmed by the store: no longer assumed, Forget leaves it.
	if err := s.Assume(NewPodInfo(p), "a"); err != nil {
		t.Fatal(err)
	}
	bound := p.DeepCopy()
	bound.Spec.NodeName = "a"
	s.SetPod(bound)
	s.Forget("p")
	if s.IsAssumed("p") || s.Node("a").Requested.MilliCPU != 1000 {
		t.Fatal("confirmed pod lost")
	}

	// Bound, never confirmed: expires.
	q := makePod("q", requests("1", ""))
	if err := s.Assume(NewPodInfo(q), "b"); err != nil {
		t.Fatal(err)
	}
	now := testEpoch
	if s.ExpireAssumed(now.Add(time.Hour)) != 0 {
		t.Fatal("an assumption whose binding is still being written expired")
	}
	s.FinishBinding("q", now.Add(30*time.Second))
	if s.ExpireAssumed(now.Add(29*time.Second)) != 0 || !s.IsAssumed("q") {
		t.Fatal("expired early")
	}
	if s.ExpireAssumed(now.Add(31*time.Second)) != 1 || s.Node("b").Requested.MilliCPU != 0 {
		t.Fatal("did not expire")
	}
}

// TestSnapshotIncremental applies random pod and node changes one by one
// and checks every node's sums against a snapshot built from scratch.
func TestSnapshotIncremental(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	nodes := map[string]*corev1.Node{}
	pods := map[types.UID]*corev1.Pod{}
	s := NewSnapshot(nil, nil)
	zones := []string{"", "z1", "z2"}
	for i := range 3000 {
		switch r := rng.IntN(10); {
		case r < 2:
			name := fmt.Sprintf("n%d", rng.IntN(8))
			n := makeNode(name, fmt.Sprint(1+rng.IntN(8)), "8Gi", 110)
			if z := zones[rng.IntN(len(zones))]; z != "" {
				n.Labels[LabelZone] = z
			}
			nodes[name] = n
			s.SetNode(n)
		case r < 3:
			name := fmt.Sprintf("n%d", rng.IntN(8))
			delete(nodes, name)
			s.RemoveNode(name)
		case r < 8:
			p := makePod(fmt.Sprintf("p%d", rng.IntN(60)), requests(fmt.Sprintf("%dm", rng.IntN(900)), fmt.Sprintf("%dMi", rng.IntN(900))),
				ownedBy(fmt.Sprintf("rs%d", rng.IntN(3))), boundTo(fmt.Sprintf("n%d", rng.IntN(8))),
				hostPort(int32(8000+rng.IntN(3)), corev1.ProtocolTCP, ""))
			if rng.IntN(5) == 0 {
				p.Status.Phase = corev1.PodSucceeded
			}
			if occupiesNode(p) {
				pods[p.UID] = p
			} else {
				delete(pods, p.UID)
			}
			s.SetPod(p)
		default:
			uid := types.UID(fmt.Sprintf("p%d", rng.IntN(60)))
			delete(pods, uid)
			s.RemovePod(uid)
		}
		if i%100 != 0 {
			continue
		}
		var nl []*corev1.Node
		for _, n := range nodes {
			nl = append(nl, n)
		}
		var pl []*corev1.Pod
		for _, p := range pods {
			pl = append(pl, p)
		}
		fresh := NewSnapshot(nl, pl)
		if len(fresh.nodes) != len(s.nodes) {
			t.Fatalf("step %d: %d node infos, fresh %d", i, len(s.nodes), len(fresh.nodes))
		}
		for name, want := range fresh.nodes {
			got := s.nodes[name]
			if got == nil || got.String() != want.String() || got.NonZeroRequested != want.NonZeroRequested ||
				fmt.Sprint(got.OwnerCounts) != fmt.Sprint(want.OwnerCounts) || fmt.Sprint(got.ports) != fmt.Sprint(want.ports) {
				t.Fatalf("step %d: node %s = %v, fresh %v", i, name, got, want)
			}
		}
		if fmt.Sprint(s.zoneOwners) != fmt.Sprint(fresh.zoneOwners) || s.zoned != fresh.zoned {
			t.Fatalf("step %d: zones %v (%d), fresh %v (%d)", i, s.zoneOwners, s.zoned, fresh.zoneOwners, fresh.zoned)
		}
		if fmt.Sprint(s.Nodes()) != fmt.Sprint(fresh.Nodes()) {
			t.Fatalf("step %d: list %v, fresh %v", i, s.Nodes(), fresh.Nodes())
		}
	}
}
