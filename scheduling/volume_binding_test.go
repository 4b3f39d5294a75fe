package scheduling

import (
	"context"
	"fmt"
	"testing"

	"github.com/skiffhq/skiff/apis"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeVolumes is a VolumeLister over maps.
type fakeVolumes struct {
	claims  map[string]*corev1.PersistentVolumeClaim // namespace/name
	volumes map[string]*corev1.PersistentVolume
	classes map[string]*storagev1.StorageClass
}

func (f fakeVolumes) Claim(ns, name string) *corev1.PersistentVolumeClaim {
	return f.claims[ns+"/"+name]
}
func (f fakeVolumes) Volume(name string) *corev1.PersistentVolume      { return f.volumes[name] }
func (f fakeVolumes) StorageClass(name string) *storagev1.StorageClass { return f.classes[name] }

func withClaim(volume, claim string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: volume,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	}
}

func testClaim(name, class, volume string, ann map[string]string) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: ann}}
	if class != "-" {
		c.Spec.StorageClassName = &class
	}
	c.Spec.VolumeName = volume
	return c
}

func pinnedVolume(name string, nodes ...string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: nodes}},
		}}}},
	}}
}

func TestVolumeBinding(t *testing.T) {
	wait, now := storagev1.VolumeBindingWaitForFirstConsumer, storagev1.VolumeBindingImmediate
	vols := fakeVolumes{
		claims: map[string]*corev1.PersistentVolumeClaim{
			"default/bound-n1":   testClaim("bound-n1", "local-path", "pv-n1", nil),
			"default/bound-n2":   testClaim("bound-n2", "local-path", "pv-n2", nil),
			"default/bound-any":  testClaim("bound-any", "", "pv-any", nil),
			"default/lost":       testClaim("lost", "local-path", "pv-gone", nil),
			"default/new":        testClaim("new", "local-path", "", nil),
			"default/chosen-n2":  testClaim("chosen-n2", "local-path", "", map[string]string{apis.AnnotationSelectedNode: "n2"}),
			"default/no-class":   testClaim("no-class", "-", "", nil),
			"default/typo-class": testClaim("typo-class", "fsat", "", nil),
			"default/immediate":  testClaim("immediate", "nfs", "", nil),
			"default/elsewhere":  testClaim("elsewhere", "shared-root", "", nil),
			"default/deleted": func() *corev1.PersistentVolumeClaim {
				c := testClaim("deleted", "local-path", "pv-n1", nil)
				c.DeletionTimestamp = &metav1.Time{Time: testEpoch}
				return c
			}(),
		},
		volumes: map[string]*corev1.PersistentVolume{
			"pv-n1":  pinnedVolume("pv-n1", "n1"),
			"pv-n2":  pinnedVolume("pv-n2", "n2"),
			"pv-any": {ObjectMeta: metav1.ObjectMeta{Name: "pv-any"}},
		},
		classes: map[string]*storagev1.StorageClass{
			"local-path":  {ObjectMeta: metav1.ObjectMeta{Name: "local-path"}, Provisioner: apis.LocalPathProvisioner, VolumeBindingMode: &wait},
			"shared-root": {ObjectMeta: metav1.ObjectMeta{Name: "shared-root"}, Provisioner: apis.LocalPathProvisioner, VolumeBindingMode: &wait, Parameters: map[string]string{"path": "/srv"}},
			"nfs":         {ObjectMeta: metav1.ObjectMeta{Name: "nfs"}, Provisioner: "example.com/nfs", VolumeBindingMode: &now},
		},
	}
	storage := func(n *corev1.Node) {
		n.Annotations = map[string]string{apis.AnnotationLocalPathRoot: "/var/lib/skiff/storage"}
	}
	n1, n2 := makeNode("n1", "1", "1Gi", 10, storage), makeNode("n2", "1", "1Gi", 10, storage)
	bare := makeNode("bare", "1", "1Gi", 10)
	un := func(reason string) string { return "Unschedulable: " + reason }
	tests := []struct {
		name      string
		pod       *corev1.Pod
		preFilter string                  // the PreFilter's refusal, if any
		want      map[*corev1.Node]string // per node when PreFilter passes
	}{
		{"no claims", makePod("p"), "", map[*corev1.Node]string{n1: "", bare: ""}},
		{"bound volume pinned to n1", makePod("p", withClaim("d", "bound-n1")), "",
			map[*corev1.Node]string{n1: "", n2: un(ReasonVolumeNodeConflict)}},
		{"two volumes on different nodes", makePod("p", withClaim("a", "bound-n1"), withClaim("b", "bound-n2")), "",
			map[*corev1.Node]string{n1: un(ReasonVolumeNodeConflict), n2: un(ReasonVolumeNodeConflict)}},
		{"bound volume without affinity", makePod("p", withClaim("d", "bound-any")), "", map[*corev1.Node]string{n1: "", bare: ""}},
		{"unbound local-path claim", makePod("p", withClaim("d", "new")), "",
			map[*corev1.Node]string{n1: "", n2: "", bare: un(ReasonNoLocalPath)}},
		{"a node already chosen", makePod("p", withClaim("d", "chosen-n2")), "",
			map[*corev1.Node]string{n1: un(ReasonClaimOnOtherNode), n2: ""}},
		{"class with its own path", makePod("p", withClaim("d", "elsewhere")), "", map[*corev1.Node]string{bare: ""}},
		{"missing claim", makePod("p", withClaim("d", "nope")), un(`persistentvolumeclaim "nope" not found`), nil},
		{"claim being deleted", makePod("p", withClaim("d", "deleted")), un(`persistentvolumeclaim "deleted" is being deleted`), nil},
		{"volume gone", makePod("p", withClaim("d", "lost")), un(`persistentvolume "pv-gone" of claim "lost" not found`), nil},
		{"unknown class", makePod("p", withClaim("d", "typo-class")), un(`storageclass "fsat" of claim "typo-class" not found`), nil},
		{"no class, unbound", makePod("p", withClaim("d", "no-class")), un(ReasonUnboundImmediate), nil},
		{"immediate class, unbound", makePod("p", withClaim("d", "immediate")), un(ReasonUnboundImmediate), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vb := VolumeBinding{Volumes: vols}
			state := NewCycleState(nil)
			pi := NewPodInfo(tt.pod)
			st := vb.PreFilter(context.Background(), state, pi)
			if got := statusString(st); got != tt.preFilter {
				t.Fatalf("PreFilter: got %q, want %q", got, tt.preFilter)
			}
			for node, want := range tt.want {
				if got := statusString(vb.Filter(context.Background(), state, pi, NewNodeInfo(node))); got != want {
					t.Errorf("node %s: got %q, want %q", node.Name, got, want)
				}
			}
		})
	}
}

func statusString(st *Status) string {
	if st.IsSuccess() {
		return ""
	}
	return fmt.Sprintf("%s: %s", st.Code(), st.Message())
}
