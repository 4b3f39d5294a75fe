package raftfsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/hashicorp/go-memdb"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// metaTable holds one row: the revision (Raft index) the state is at.
const metaTable = "meta"

type metaRow struct{ Revision uint64 }

// record is one stored object. Records are immutable once inserted: a
// change inserts a new record. The JSON encoding is made once, on first use,
// and shared by every reader and watcher.
//
// Most kinds' objects are decoded lazily too (see writeTxn.decode): the FSM
// itself needs only their metadata, and every master applies every write,
// while the whole object is asked for only where something reads it (a
// controller's informer on the leader, a list of objects). Until then the
// record holds the command's JSON and the metadata decoded on its own.
type record struct {
	kind string
	// meta is the object's metadata: obj's own, or, while obj waits to be
	// decoded, decoded on its own from the command.
	meta metav1.Object
	// obj is the object; when nil, Object decodes it as res from JSON().
	obj     apis.Object
	res     *resources.Resource
	objOnce sync.Once
	once    sync.Once
	raw     []byte
	// src, when set, is the object's JSON as the command carried it,
	// without resourceVersion; rv is spliced in instead of encoding the
	// object again.
	src []byte
	rv  string
}

func newRecord(kind string, obj apis.Object) *record { return &record{kind: kind, obj: obj, meta: obj} }

var metadataKey = []byte(`"metadata":{`)

// spliceResourceVersion inserts "resourceVersion":rv at the start of the
// top-level metadata object. In JSON that encoding/json wrote for a typed
// object, the first `"metadata":{` is that object (apiVersion and kind
// come before it, and quotes inside strings are escaped).
func spliceResourceVersion(src []byte, rv string) ([]byte, bool) {
	i := bytes.Index(src, metadataKey)
	if i < 0 {
		return nil, false
	}
	at := i + len(metadataKey)
	out := make([]byte, 0, len(src)+len(rv)+24)
	out = append(out, src[:at]...)
	out = append(out, `"resourceVersion":"`...)
	out = append(out, rv...)
	out = append(out, '"')
	if at < len(src) && src[at] != '}' {
		out = append(out, ',')
	}
	return append(out, src[at:]...), true
}

// Object returns the stored object. Callers must not modify it.
func (r *record) Object() apis.Object {
	r.objOnce.Do(r.decodeObject)
	return r.obj
}

// Meta returns the object's metadata, without decoding the rest of it.
func (r *record) Meta() metav1.Object { return r.meta }

// decodeObject decodes a lazily decoded record's object from its JSON.
// That JSON is what the leader encoded from a typed object of this very
// kind (writeTxn.decode checked its kind and metadata), so it decodes.
func (r *record) decodeObject() {
	if r.obj != nil {
		return
	}
	obj := r.res.New()
	if err := fastJSON.Unmarshal(r.JSON(), obj); err != nil {
		panic(fmt.Sprintf("raftfsm: decoding stored %s %s/%s: %v", r.kind, r.meta.GetNamespace(), r.meta.GetName(), err))
	}
	obj.GetObjectKind().SetGroupVersionKind(r.res.GVK())
	r.obj = obj
}

// Kind returns the object's kind.
func (r *record) Kind() string { return r.kind }

// JSON returns the object's JSON encoding.
func (r *record) JSON() []byte {
	r.once.Do(func() {
		if r.src != nil {
			raw, ok := spliceResourceVersion(r.src, r.rv)
			// The command's buffer is no longer needed: drop it, so a
			// stored object does not keep its JSON twice.
			r.src = nil
			if ok {
				r.raw = raw
				return
			}
		}
		// A lazily decoded record always splices (writeTxn.decode made
		// sure), so Object here never needs JSON.
		raw, err := json.Marshal(r.Object())
		if err != nil {
			// Objects decoded from JSON always encode back; anything
			// else is a bug worth seeing.
			panic(fmt.Sprintf("raftfsm: encoding stored %s: %v", r.kind, err))
		}
		r.raw = raw
	})
	return r.raw
}

// dbSchema builds one table per registered kind.
func dbSchema(reg *resources.Registry) *memdb.DBSchema {
	s := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		metaTable: {Name: metaTable, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.ConditionalIndex{Conditional: func(any) (bool, error) { return true, nil }}},
		}},
	}}
	for _, r := range reg.All() {
		t := &memdb.TableSchema{Name: r.Kind, Indexes: map[string]*memdb.IndexSchema{
			indexID:    {Name: indexID, Unique: true, Indexer: idIndex},
			indexOwner: {Name: indexOwner, AllowMissing: true, Indexer: ownerIndex},
		}}
		for name, ix := range extraIndexes[r.Kind] {
			t.Indexes[name] = &memdb.IndexSchema{Name: name, AllowMissing: true, Indexer: ix}
		}
		s.Tables[r.Kind] = t
	}
	return s
}

// Store is the FSM's state: a go-memdb database. Only the FSM writes it;
// everyone else reads consistent snapshots through View.
type Store struct {
	db  *memdb.MemDB
	reg *resources.Registry
}

func newStore(reg *resources.Registry) *Store {
	db, err := memdb.NewMemDB(dbSchema(reg))
	if err != nil {
		panic(fmt.Sprintf("raftfsm: schema: %v", err)) // a bug in schema()
	}
	// The store is kept in a snapshot of the new database: go-memdb
	// tracks, for its WatchSets, every tree node a write transaction of
	// the original changes and closes a channel per node at commit; a
	// snapshot's writes skip that. Nothing here uses WatchSets (the watch
	// hub sends changes); the tracking cost the masters several percent
	// of their CPU per write on skiff-bench.
	return &Store{db: db.Snapshot(), reg: reg}
}

// View returns a consistent read-only view of the whole state.
func (s *Store) View() *View { return &View{txn: s.db.Txn(false), reg: s.reg} }

// View is a consistent, read-only snapshot of the store. It is cheap to take
// and stays valid (and unchanged) however long it is held.
type View struct {
	txn *memdb.Txn
	reg *resources.Registry
}

// Revision returns the Raft index the view reflects.
func (v *View) Revision() uint64 {
	raw, err := v.txn.First(metaTable, "id", true)
	if err != nil || raw == nil {
		return 0
	}
	return raw.(*metaRow).Revision
}

// Record returns the stored record of kind/namespace/name, or nil.
func (v *View) Record(kind, namespace, name string) *record {
	raw, err := v.txn.First(kind, indexID, idKey(namespace, name))
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*record)
}

// Get returns the stored object, or nil when there is none. Do not modify it.
func (v *View) Get(kind, namespace, name string) apis.Object {
	if r := v.Record(kind, namespace, name); r != nil {
		return r.Object()
	}
	return nil
}

// Scan calls fn for every record of kind in namespace ("" = all namespaces)
// in namespace/name order, starting after the key `after` (for paging), until
// fn returns false.
func (v *View) Scan(kind, namespace, after string, fn func(*record) bool) {
	var it memdb.ResultIterator
	var err error
	switch {
	case after != "":
		it, err = v.txn.LowerBound(kind, indexID, after)
	case namespace != "":
		it, err = v.txn.Get(kind, indexID+"_prefix", namespace+"\x00")
	default:
		it, err = v.txn.Get(kind, indexID)
	}
	if err != nil {
		return // unknown kind: nothing to scan
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*record)
		if namespace != "" && r.meta.GetNamespace() != namespace {
			if after != "" && r.meta.GetNamespace() > namespace {
				return
			}
			continue
		}
		if after != "" && idKey(r.meta.GetNamespace(), r.meta.GetName()) <= after {
			continue
		}
		if !fn(r) {
			return
		}
	}
}

// List returns every object of kind in namespace ("" = all).
func (v *View) List(kind, namespace string) []apis.Object {
	var out []apis.Object
	v.Scan(kind, namespace, "", func(r *record) bool { out = append(out, r.Object()); return true })
	return out
}

// Count returns how many objects of kind there are in namespace ("" = all).
func (v *View) Count(kind, namespace string) int {
	n := 0
	v.Scan(kind, namespace, "", func(*record) bool { n++; return true })
	return n
}

// Dependents returns the objects of kind that name ownerUID among their
// owner references.
func (v *View) Dependents(kind, ownerUID string) []apis.Object {
	it, err := v.txn.Get(kind, indexOwner, ownerUID)
	if err != nil {
		return nil
	}
	var out []apis.Object
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*record).Object())
	}
	return out
}

// PodsOnNode returns the pods bound to node.
func (v *View) PodsOnNode(node string) []*corev1.Pod {
	it, err := v.txn.Get("Pod", indexNode, node)
	if err != nil {
		return nil
	}
	var out []*corev1.Pod
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*record).Object().(*corev1.Pod))
	}
	return out
}

// Pod returns a pod by namespace and name, or nil.
func (v *View) Pod(namespace, name string) *corev1.Pod {
	if o := v.Get("Pod", namespace, name); o != nil {
		return o.(*corev1.Pod)
	}
	return nil
}

// Node returns a node by name, or nil.
func (v *View) Node(name string) *corev1.Node {
	if o := v.Get("Node", "", name); o != nil {
		return o.(*corev1.Node)
	}
	return nil
}
