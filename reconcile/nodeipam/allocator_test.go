package nodeipam

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type fakeNodes struct {
	nodes map[string]*corev1.Node
	fail  map[string]bool
}

func (f *fakeNodes) List() []*corev1.Node {
	var out []*corev1.Node
	for _, name := range []string{"a", "b", "c", "d"} {
		if n, ok := f.nodes[name]; ok {
			out = append(out, n)
		}
	}
	return out
}

func (f *fakeNodes) Update(_ context.Context, n *corev1.Node) error {
	if f.fail[n.Name] {
		return errors.New("conflict")
	}
	f.nodes[n.Name] = n
	return nil
}

func node(name, cidr string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr}}
}

func TestAllocatesLowestFreeSubnets(t *testing.T) {
	f := &fakeNodes{nodes: map[string]*corev1.Node{
		"a": node("a", ""), "b": node("b", "10.42.0.0/24"), "c": node("c", ""), "d": node("d", "10.42.2.0/24"),
	}}
	al, err := New("10.42.0.0/16", f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := al.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.nodes["a"].Spec.PodCIDR; got != "10.42.1.0/24" {
		t.Errorf("a got %s", got)
	}
	if got := f.nodes["c"].Spec.PodCIDR; got != "10.42.3.0/24" {
		t.Errorf("c got %s", got)
	}
}

func TestFullAndBadCIDRs(t *testing.T) {
	f := &fakeNodes{nodes: map[string]*corev1.Node{"a": node("a", "10.42.0.0/24"), "b": node("b", "")}}
	al, _ := New("10.42.0.0/24", f, nil)
	if err := al.Sync(context.Background()); !errors.Is(err, ErrFull) {
		t.Fatalf("want ErrFull, got %v", err)
	}
	for _, bad := range []string{"10.42.0.0/25", "fd00::/64", "nonsense", "10.0.0.0/7"} {
		if _, err := New(bad, f, nil); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestFailedWriteLeavesSubnetFree(t *testing.T) {
	f := &fakeNodes{nodes: map[string]*corev1.Node{"a": node("a", ""), "b": node("b", "")}, fail: map[string]bool{"a": true}}
	al, _ := New("10.42.0.0/16", f, nil)
	if err := al.Sync(context.Background()); err == nil {
		t.Fatal("the failed write was not reported")
	}
	if got := f.nodes["b"].Spec.PodCIDR; got != "10.42.1.0/24" && got != "10.42.0.0/24" {
		t.Fatalf("b got %q", got)
	}
}
