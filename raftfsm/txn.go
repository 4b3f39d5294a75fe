package raftfsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/hashicorp/go-memdb"
	jsoniter "github.com/json-iterator/go"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fastJSON decodes commands: every master decodes every object written,
// and json-iterator (already how Kubernetes' own code paths decode) does it
// about three times faster than encoding/json, with the same results for
// the JSON encoding/json wrote.
var fastJSON = jsoniter.ConfigCompatibleWithStandardLibrary

// writeTxn is one log entry's write to the store. Handlers only call its
// methods; it collects the watch events the entry causes.
type writeTxn struct {
	txn    *memdb.Txn
	reg    *resources.Registry
	index  uint64
	events []Event
	// mutated says the entry changed the transaction; an entry that fails
	// after that needs the transaction thrown away.
	mutated bool
}

func (t *writeTxn) resource(kind string) (*resources.Resource, error) {
	res, ok := t.reg.ByKind(kind)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("kind %q is not served", kind))
	}
	return res, nil
}

// decoded is a command's object, decoded as far as the FSM needs it.
type decoded struct {
	res *resources.Resource
	// obj is the whole object; nil when only meta was decoded, the rest
	// being left to the record (see record).
	obj  apis.Object
	meta metav1.Object
	// reusable says the command's JSON can serve as the record's encoding
	// (with resourceVersion spliced in): it names its own kind and has no
	// resourceVersion yet.
	reusable bool
}

// commandMeta is what the FSM decodes of an object of a kind it decodes
// lazily.
type commandMeta struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
}

// decodeCommandMeta decodes an object's apiVersion, kind and metadata,
// and stops reading there. A command's object is JSON that encoding/json
// wrote for a typed object, where these three come first: the rest (a
// ConfigMap's data, say) is not even scanned.
func decodeCommandMeta(raw []byte, m *commandMeta) error {
	it := fastJSON.BorrowIterator(raw)
	defer fastJSON.ReturnIterator(it)
	const all = 7
	seen := 0
	it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
		switch field {
		case "apiVersion":
			m.APIVersion, seen = it.ReadString(), seen|1
		case "kind":
			m.Kind, seen = it.ReadString(), seen|2
		case "metadata":
			it.ReadVal(&m.Metadata)
			seen |= 4
		default:
			it.Skip()
		}
		return seen != all
	})
	if it.Error != nil && it.Error != io.EOF {
		return it.Error
	}
	return nil
}

// decodedWhole says whether the FSM decodes kind's objects whole as they
// are written: it reads more than their metadata (pods' node and Services'
// addresses for indexes, namespaces' phase).
func decodedWhole(kind string) bool {
	_, ok := extraIndexes[kind]
	return ok || kind == "Namespace"
}

// decode decodes a command's object: only its metadata when the record
// can decode the rest later from the command's JSON, else all of it.
func (t *writeTxn) decode(kind string, raw json.RawMessage) (decoded, error) {
	res, err := t.resource(kind)
	if err != nil {
		return decoded{}, err
	}
	if !decodedWhole(kind) {
		m := &commandMeta{}
		if err := decodeCommandMeta(raw, m); err != nil {
			return decoded{}, apierrors.NewBadRequest(fmt.Sprintf("decoding %s: %v", kind, err))
		}
		// Without metadataKey the record could not splice its
		// resourceVersion in, and would need the object to encode.
		if m.GroupVersionKind() == res.GVK() && m.Metadata.ResourceVersion == "" && bytes.Contains(raw, metadataKey) {
			return decoded{res: res, meta: &m.Metadata, reusable: true}, nil
		}
	}
	obj := res.New()
	if err := fastJSON.Unmarshal(raw, obj); err != nil {
		return decoded{}, apierrors.NewBadRequest(fmt.Sprintf("decoding %s: %v", kind, err))
	}
	reusable := obj.GetObjectKind().GroupVersionKind() == res.GVK() && obj.GetResourceVersion() == ""
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	return decoded{res: res, obj: obj, meta: obj, reusable: reusable}, nil
}

// newRecordAt makes the record of d written at this entry; raw is the
// command's JSON of it.
func (t *writeTxn) newRecordAt(kind string, d decoded, raw []byte) *record {
	rv := strconv.FormatUint(t.index, 10)
	d.meta.SetResourceVersion(rv)
	rec := &record{kind: kind, meta: d.meta, obj: d.obj}
	if d.obj == nil {
		rec.res = d.res
	}
	if d.reusable {
		rec.src, rec.rv = raw, rv
	}
	return rec
}

func groupResource(res *resources.Resource) schema.GroupResource {
	return schema.GroupResource{Group: res.Group, Resource: res.Plural}
}

func (t *writeTxn) get(kind, namespace, name string) *record {
	raw, err := t.txn.First(kind, indexID, idKey(namespace, name))
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*record)
}

// checkNamespace refuses objects in a namespace that does not exist or is
// being deleted.
func (t *writeTxn) checkNamespace(res *resources.Resource, namespace string) error {
	if !res.Namespaced {
		return nil
	}
	ns := t.get("Namespace", "", namespace)
	if ns == nil {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, namespace)
	}
	if ns.meta.GetDeletionTimestamp() != nil || ns.Object().(*corev1.Namespace).Status.Phase == corev1.NamespaceTerminating {
		return apierrors.NewForbidden(groupResource(res), "", fmt.Errorf("unable to create new content in namespace %s because it is being terminated", namespace))
	}
	return nil
}

func (t *writeTxn) create(kind string, raw json.RawMessage) (*record, error) {
	d, err := t.decode(kind, raw)
	if err != nil {
		return nil, err
	}
	if err := t.checkNamespace(d.res, d.meta.GetNamespace()); err != nil {
		return nil, err
	}
	if t.get(kind, d.meta.GetNamespace(), d.meta.GetName()) != nil {
		return nil, apierrors.NewAlreadyExists(groupResource(d.res), d.meta.GetName())
	}
	if err := t.admitService(d.obj); err != nil {
		return nil, err
	}
	rec := t.newRecordAt(kind, d, raw)
	t.mutated = true
	if err := t.txn.Insert(kind, rec); err != nil {
		return nil, apierrors.NewConflict(groupResource(d.res), d.meta.GetName(), err)
	}
	t.events = append(t.events, Event{Type: Added, Kind: kind, Revision: t.index, Object: rec})
	return rec, nil
}

func (t *writeTxn) update(kind string, raw json.RawMessage, precondition uint64) (*record, error) {
	d, err := t.decode(kind, raw)
	if err != nil {
		return nil, err
	}
	name := d.meta.GetName()
	cur := t.get(kind, d.meta.GetNamespace(), name)
	if cur == nil {
		return nil, apierrors.NewNotFound(groupResource(d.res), name)
	}
	curRV := cur.meta.GetResourceVersion()
	if precondition != 0 && curRV != strconv.FormatUint(precondition, 10) {
		return nil, apierrors.NewConflict(groupResource(d.res), name,
			fmt.Errorf("the object has been modified (resourceVersion %s, expected %d); please apply your changes to the latest version and try again", curRV, precondition))
	}
	if uid := d.meta.GetUID(); uid != "" && uid != cur.meta.GetUID() {
		return nil, apierrors.NewConflict(groupResource(d.res), name,
			fmt.Errorf("uid %s does not match the stored object's %s", uid, cur.meta.GetUID()))
	}
	if err := t.admitService(d.obj); err != nil {
		return nil, err
	}
	rec := t.newRecordAt(kind, d, raw)
	t.mutated = true
	if err := t.txn.Insert(kind, rec); err != nil {
		return nil, apierrors.NewConflict(groupResource(d.res), name, err)
	}
	t.events = append(t.events, Event{Type: Modified, Kind: kind, Revision: t.index, Object: rec, Prev: cur})
	return rec, nil
}

func (t *writeTxn) delete(m *DeleteMsg) (*record, error) {
	res, err := t.resource(m.Kind)
	if err != nil {
		return nil, err
	}
	cur := t.get(m.Kind, m.Namespace, m.Name)
	if cur == nil {
		return nil, apierrors.NewNotFound(groupResource(res), m.Name)
	}
	if m.UID != "" && string(cur.meta.GetUID()) != m.UID {
		return nil, apierrors.NewConflict(groupResource(res), m.Name, fmt.Errorf("precondition failed: uid %s, stored object has %s", m.UID, cur.meta.GetUID()))
	}
	if m.ResourceVersion != 0 && cur.meta.GetResourceVersion() != strconv.FormatUint(m.ResourceVersion, 10) {
		return nil, apierrors.NewConflict(groupResource(res), m.Name, fmt.Errorf("precondition failed: resourceVersion %d, stored object is at %s", m.ResourceVersion, cur.meta.GetResourceVersion()))
	}
	if m.Kind == "Namespace" {
		if err := t.deleteNamespaceContents(m.Name); err != nil {
			return nil, err
		}
	}
	return t.remove(cur)
}

// remove deletes a record and records a DELETED event whose object carries
// the deletion's resourceVersion, as Kubernetes' watch does.
func (t *writeTxn) remove(cur *record) (*record, error) {
	t.mutated = true
	if err := t.txn.Delete(cur.kind, cur); err != nil {
		return nil, err
	}
	gone := cur.Object().DeepCopyObject().(apis.Object)
	gone.SetResourceVersion(strconv.FormatUint(t.index, 10))
	rec := newRecord(cur.kind, gone)
	t.events = append(t.events, Event{Type: Deleted, Kind: cur.kind, Revision: t.index, Object: rec, Prev: cur})
	return rec, nil
}

// deleteNamespaceContents removes every namespaced object in namespace, in
// registry then name order so that every replica does the same.
func (t *writeTxn) deleteNamespaceContents(namespace string) error {
	for _, res := range t.reg.All() {
		if !res.Namespaced {
			continue
		}
		it, err := t.txn.Get(res.Kind, indexID+"_prefix", namespace+"\x00")
		if err != nil {
			return err
		}
		var doomed []*record
		for raw := it.Next(); raw != nil; raw = it.Next() {
			doomed = append(doomed, raw.(*record))
		}
		for _, rec := range doomed {
			if _, err := t.remove(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *writeTxn) setRevision() error {
	return t.txn.Insert(metaTable, &metaRow{Revision: t.index})
}
