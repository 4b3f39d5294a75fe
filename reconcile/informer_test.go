package reconcile_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/raftfsm"
	"github.com/skiffhq/skiff/reconcile"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestKeys(t *testing.T) {
	for _, tc := range []struct{ ns, name, key string }{
		{"default", "web", "default/web"},
		{"", "node-1", "node-1"},
	} {
		if got := reconcile.JoinKey(tc.ns, tc.name); got != tc.key {
			t.Errorf("JoinKey(%q, %q) = %q", tc.ns, tc.name, got)
		}
		if ns, name := reconcile.SplitKey(tc.key); ns != tc.ns || name != tc.name {
			t.Errorf("SplitKey(%q) = %q, %q", tc.key, ns, name)
		}
	}
}

// recorder collects what a handler sees.
type seen struct {
	mu     sync.Mutex
	events []string
}

func (s *seen) add(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, what)
}

func (s *seen) has(what string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.events, what)
}

func (s *seen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.events, ", ")
}

func (s *seen) handler() reconcile.Handler {
	return reconcile.Handler{
		OnAdd:    func(o apis.Object) { s.add("add " + o.GetName()) },
		OnUpdate: func(_, o apis.Object) { s.add("update " + o.GetName()) },
		OnDelete: func(o apis.Object) { s.add("delete " + o.GetName()) },
	}
}

func names(objs []apis.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetName())
	}
	return out
}

func TestInformerListsWatchesAndIndexes(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, raftfsm.FSMConfig{})
	put(t, s, "Pod", testPod("a", map[string]string{"app": "web"}))
	owned := testPod("b", map[string]string{"app": "web"})
	owned.OwnerReferences = []metav1.OwnerReference{
		{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs-uid", Controller: new(true)},
		{APIVersion: "v1", Kind: "ConfigMap", Name: "cm", UID: "cm-uid"},
	}
	put(t, s, "Pod", owned)

	inf := reconcile.NewInformer(reconcile.InformerConfig{Reader: s, Resource: resource(t, "Pod")})
	inf.AddIndex(reconcile.IndexControllerUID, reconcile.ControllerUIDIndex)
	inf.AddIndex(reconcile.IndexOwnerUID, reconcile.OwnerUIDIndex)
	var h seen
	inf.AddHandler(h.handler())
	if inf.HasSynced() {
		t.Fatal("synced before running")
	}
	run(t, inf)
	if !reconcile.WaitForSync(ctx, inf) {
		t.Fatal("no sync")
	}
	if !h.has("add a") || !h.has("add b") {
		t.Fatalf("the first list was not reported: %v", h.String())
	}
	if got := names(inf.ByIndex(reconcile.IndexControllerUID, "rs-uid")); !slices.Equal(got, []string{"b"}) {
		t.Errorf("by controller: %v", got)
	}
	if got := names(inf.ByIndex(reconcile.IndexControllerUID, reconcile.OrphanIndexValue("default"))); !slices.Equal(got, []string{"a"}) {
		t.Errorf("orphans: %v", got)
	}
	if got := names(inf.ByIndex(reconcile.IndexOwnerUID, "cm-uid")); !slices.Equal(got, []string{"b"}) {
		t.Errorf("by owner: %v", got)
	}

	c := put(t, s, "Pod", testPod("c", map[string]string{"app": "db"}))
	eventually(t, "the add of c", func() bool { return h.has("add c") })
	if got := names(inf.Select("default", labels.SelectorFromSet(labels.Set{"app": "web"}))); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("select app=web: %v", got)
	}
	if got := names(inf.Select("", nil)); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("select everything: %v", got)
	}

	relabeled := c.DeepCopyObject().(*corev1.Pod)
	relabeled.Labels = map[string]string{"app": "web"}
	rv := parseRV(t, c)
	if _, err := s.Update(ctx, resource(t, "Pod"), relabeled, rv); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the update of c", func() bool { return h.has("update c") })
	if got := names(inf.Select("default", labels.SelectorFromSet(labels.Set{"app": "web"}))); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("select after relabel: %v", got)
	}

	if _, err := s.Delete(ctx, resource(t, "Pod"), "default", "b", storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delete of b", func() bool { return h.has("delete b") })
	if _, ok := inf.Get("default", "b"); ok {
		t.Error("b still cached")
	}
	if got := inf.ByIndex(reconcile.IndexControllerUID, "rs-uid"); len(got) != 0 {
		t.Errorf("b still indexed: %v", names(got))
	}
	if inf.Revision() == 0 || inf.Len() != 2 {
		t.Errorf("revision %d, len %d", inf.Revision(), inf.Len())
	}
}

func parseRV(t *testing.T, obj apis.Object) uint64 {
	t.Helper()
	var rv uint64
	for _, c := range obj.GetResourceVersion() {
		rv = rv*10 + uint64(c-'0')
	}
	if rv == 0 {
		t.Fatalf("%s has no resourceVersion", obj.GetName())
	}
	return rv
}

// TestInformerListsAgainWhenCutOff blocks a handler so that the store cuts
// the watch off (too slow) and its history moves on; the informer must list
// again and report what it missed, deletions included.
func TestInformerListsAgainWhenCutOff(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, raftfsm.FSMConfig{History: 2, WatchBuffer: 1})
	put(t, s, "Pod", testPod("a", nil))
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	inf := reconcile.NewInformer(reconcile.InformerConfig{Reader: s, Resource: resource(t, "Pod"), Logger: log})
	gate, blocked := make(chan struct{}), make(chan struct{})
	var h seen
	inf.AddHandler(reconcile.Handler{OnAdd: func(o apis.Object) {
		if o.GetName() == "block" {
			close(blocked)
			<-gate
		}
	}})
	inf.AddHandler(h.handler())
	run(t, inf)
	reconcile.WaitForSync(ctx, inf)

	put(t, s, "Pod", testPod("block", nil))
	<-blocked
	if _, err := s.Delete(ctx, resource(t, "Pod"), "default", "a", storage.Preconditions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"c", "d", "e", "f", "g"} {
		put(t, s, "Pod", testPod(n, nil))
	}
	close(gate)
	eventually(t, "the cache to catch up", func() bool {
		return slices.Equal(names(inf.List()), []string{"block", "c", "d", "e", "f", "g"})
	})
	if !h.has("delete a") {
		t.Errorf("the deletion of a was not reported: %v", h.String())
	}
	if !strings.Contains(logs.String(), storage.ErrTooSlow.Error()) {
		t.Errorf("the watch was not cut off as too slow; logs:\n%s", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAddHandlerToRunningInformerReplaysTheCache(t *testing.T) {
	s := newStore(t, raftfsm.FSMConfig{})
	put(t, s, "Pod", testPod("a", nil))
	inf := reconcile.NewInformer(reconcile.InformerConfig{Reader: s, Resource: resource(t, "Pod")})
	run(t, inf)
	reconcile.WaitForSync(context.Background(), inf)
	var h seen
	inf.AddHandler(h.handler())
	if !h.has("add a") {
		t.Fatal("a late handler did not get the cached objects")
	}
	inf.AddIndex(reconcile.IndexControllerUID, reconcile.ControllerUIDIndex)
	if got := names(inf.ByIndex(reconcile.IndexControllerUID, reconcile.OrphanIndexValue("default"))); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("a late index was not built: %v", got)
	}
}

// A metadata-only informer caches PartialObjectMetadata: the metadata
// (labels, owners, resourceVersion) and its kind, nothing else.
func TestMetadataOnlyInformer(t *testing.T) {
	s := newStore(t, raftfsm.FSMConfig{})
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "default", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "d", UID: "d-uid"}}},
		Data: map[string]string{"k": "v"}}
	stored := put(t, s, "ConfigMap", cm)
	inf := reconcile.NewInformer(reconcile.InformerConfig{Reader: s, Resource: resource(t, "ConfigMap"), MetadataOnly: true})
	inf.AddIndex(reconcile.IndexOwnerUID, reconcile.OwnerUIDIndex)
	var h seen
	inf.AddHandler(h.handler())
	run(t, inf)
	if !reconcile.WaitForSync(context.Background(), inf) {
		t.Fatal("no sync")
	}
	check := func(name, rv string) {
		t.Helper()
		got, ok := inf.Get("default", name)
		m, partial := got.(*metav1.PartialObjectMetadata)
		if !ok || !partial {
			t.Fatalf("cached %T, want *metav1.PartialObjectMetadata", got)
		}
		if m.Kind != "ConfigMap" || m.APIVersion != "v1" || m.Labels["app"] != "web" || m.ResourceVersion != rv ||
			len(m.OwnerReferences) != 1 || m.OwnerReferences[0].UID != "d-uid" {
			t.Errorf("cached %+v", m)
		}
	}
	check("cm", stored.GetResourceVersion())
	cm2 := cm.DeepCopy()
	cm2.Name = "cm2"
	added := put(t, s, "ConfigMap", cm2)
	eventually(t, "the add of cm2", func() bool { return h.has("add cm2") })
	check("cm2", added.GetResourceVersion())
	if got := names(inf.ByIndex(reconcile.IndexOwnerUID, "d-uid")); !slices.Equal(got, []string{"cm", "cm2"}) {
		t.Errorf("by owner: %v", got)
	}
}

// ForMetadata shares the whole informer For made; else it makes one of
// metadata alone, apart from any For makes later.
func TestInformersForMetadata(t *testing.T) {
	s := newStore(t, raftfsm.FSMConfig{})
	infs := reconcile.NewInformers(s, reg, nil)
	pods := infs.For("Pod")
	if infs.ForMetadata("Pod") != pods {
		t.Error("ForMetadata made a second Pod informer")
	}
	cms := infs.ForMetadata("ConfigMap")
	if infs.ForMetadata("ConfigMap") != cms {
		t.Error("two metadata-only ConfigMap informers")
	}
	if infs.For("ConfigMap") == cms {
		t.Error("For handed out the metadata-only informer")
	}
}

func TestInformersShareOnePerKind(t *testing.T) {
	s := newStore(t, raftfsm.FSMConfig{})
	infs := reconcile.NewInformers(s, reg, nil)
	if first, second := infs.For("Pod"), infs.For("Pod"); first != second {
		t.Fatal("two informers for one kind")
	}
	rs := infs.For("ReplicaSet")
	run(t, infs)
	if !reconcile.WaitForSync(context.Background(), infs.For("Pod"), rs) {
		t.Fatal("no sync")
	}
	defer func() {
		if recover() == nil {
			t.Error("For after Run did not panic")
		}
	}()
	infs.For("Node")
}
