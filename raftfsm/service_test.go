package raftfsm

import (
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func testService(name, ip string, nodePorts ...int32) *corev1.Service {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("svc-" + name)},
		Spec:       corev1.ServiceSpec{ClusterIP: ip},
	}
	for i, np := range nodePorts {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Port: int32(80 + i), NodePort: np})
	}
	return svc
}

// Two masters may pick the same cluster IP or node port from stale
// views; the FSM lets the first write have it and refuses the second,
// naming the field, on every replica alike.
func TestServiceAddressesAreHeldByOneService(t *testing.T) {
	f := newTestFSM()
	l := &testLog{t: t}
	apply := func(e *raft.Log) error { t.Helper(); return respErr(t, f.Apply(e)) }
	if err := apply(l.add(MsgCreate, CreateMsg{Kind: "Namespace", Object: rawJSON(t, namespace("default"))})); err != nil {
		t.Fatal(err)
	}
	if err := apply(l.add(MsgCreate, CreateMsg{Kind: "Service", Object: rawJSON(t, testService("a", "10.43.0.10", 30001))})); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		svc   *corev1.Service
		field string
	}{
		{testService("b", "10.43.0.10"), "spec.clusterIP"},
		{testService("c", "10.43.0.11", 30002, 30001), "spec.ports[1].nodePort"},
	} {
		err := apply(l.add(MsgCreate, CreateMsg{Kind: "Service", Object: rawJSON(t, tc.svc)}))
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), "default/a") {
			t.Errorf("%s: %v, want Invalid naming %s and its holder", tc.svc.Name, err, tc.field)
		}
	}
	// A Service may keep its own; headless Services hold nothing.
	a := testService("a", "10.43.0.10", 30001)
	a.Labels = map[string]string{"x": "y"}
	if err := apply(l.add(MsgUpdate, UpdateMsg{Kind: "Service", Object: rawJSON(t, a)})); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"h1", "h2"} {
		if err := apply(l.add(MsgCreate, CreateMsg{Kind: "Service", Object: rawJSON(t, testService(n, "None"))})); err != nil {
			t.Fatal(err)
		}
	}
	// Deleting frees them.
	if err := apply(l.add(MsgDelete, DeleteMsg{Kind: "Service", Namespace: "default", Name: "a"})); err != nil {
		t.Fatal(err)
	}
	if err := apply(l.add(MsgCreate, CreateMsg{Kind: "Service", Object: rawJSON(t, testService("b", "10.43.0.10", 30001))})); err != nil {
		t.Fatalf("after the holder was deleted: %v", err)
	}
}
