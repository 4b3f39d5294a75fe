package raftfsm

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/hashicorp/go-memdb"
	jsoniter "github.com/json-iterator/go"
	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// decode decodes a command's object. reusable says its JSON can serve as
// the record's encoding (with resourceVersion spliced in): it names its own
// kind and has no resourceVersion yet.
func (t *writeTxn) decode(kind string, raw json.RawMessage) (res *resources.Resource, obj apis.Object, reusable bool, err error) {
	res, err = t.resource(kind)
	if err != nil {
		return nil, nil, false, err
	}
	obj = res.New()
	if err := fastJSON.Unmarshal(raw, obj); err != nil {
		return nil, nil, false, apierrors.NewBadRequest(fmt.Sprintf("decoding %s: %v", kind, err))
	}
	reusable = obj.GetObjectKind().GroupVersionKind() == res.GVK() && obj.GetResourceVersion() == ""
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	return res, obj, reusable, nil
}

// newRecordAt makes the record of obj written at this entry.
func (t *writeTxn) newRecordAt(kind string, obj apis.Object, raw []byte, reusable bool) *record {
	rv := strconv.FormatUint(t.index, 10)
	obj.SetResourceVersion(rv)
	rec := newRecord(kind, obj)
	if reusable {
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
	if ns.obj.GetDeletionTimestamp() != nil || ns.obj.(*corev1.Namespace).Status.Phase == corev1.NamespaceTerminating {
		return apierrors.NewForbidden(groupResource(res), "", fmt.Errorf("unable to create new content in namespace %s because it is being terminated", namespace))
	}
	return nil
}

func (t *writeTxn) create(kind string, raw json.RawMessage) (*record, error) {
	res, obj, reusable, err := t.decode(kind, raw)
	if err != nil {
		return nil, err
	}
	if err := t.checkNamespace(res, obj.GetNamespace()); err != nil {
		return nil, err
	}
	if t.get(kind, obj.GetNamespace(), obj.GetName()) != nil {
		return nil, apierrors.NewAlreadyExists(groupResource(res), obj.GetName())
	}
	if err := t.admitService(obj); err != nil {
		return nil, err
	}
	rec := t.newRecordAt(kind, obj, raw, reusable)
	t.mutated = true
	if err := t.txn.Insert(kind, rec); err != nil {
		return nil, apierrors.NewConflict(groupResource(res), obj.GetName(), err)
	}
	t.events = append(t.events, Event{Type: Added, Kind: kind, Revision: t.index, Object: rec})
	return rec, nil
}

func (t *writeTxn) update(kind string, raw json.RawMessage, precondition uint64) (*record, error) {
	res, obj, reusable, err := t.decode(kind, raw)
	if err != nil {
		return nil, err
	}
	cur := t.get(kind, obj.GetNamespace(), obj.GetName())
	if cur == nil {
		return nil, apierrors.NewNotFound(groupResource(res), obj.GetName())
	}
	curRV := cur.obj.GetResourceVersion()
	if precondition != 0 && curRV != strconv.FormatUint(precondition, 10) {
		return nil, apierrors.NewConflict(groupResource(res), obj.GetName(),
			fmt.Errorf("the object has been modified (resourceVersion %s, expected %d); please apply your changes to the latest version and try again", curRV, precondition))
	}
	if uid := obj.GetUID(); uid != "" && uid != cur.obj.GetUID() {
		return nil, apierrors.NewConflict(groupResource(res), obj.GetName(),
			fmt.Errorf("uid %s does not match the stored object's %s", uid, cur.obj.GetUID()))
	}
	if err := t.admitService(obj); err != nil {
		return nil, err
	}
	rec := t.newRecordAt(kind, obj, raw, reusable)
	t.mutated = true
	if err := t.txn.Insert(kind, rec); err != nil {
		return nil, apierrors.NewConflict(groupResource(res), obj.GetName(), err)
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
	if m.UID != "" && string(cur.obj.GetUID()) != m.UID {
		return nil, apierrors.NewConflict(groupResource(res), m.Name, fmt.Errorf("precondition failed: uid %s, stored object has %s", m.UID, cur.obj.GetUID()))
	}
	if m.ResourceVersion != 0 && cur.obj.GetResourceVersion() != strconv.FormatUint(m.ResourceVersion, 10) {
		return nil, apierrors.NewConflict(groupResource(res), m.Name, fmt.Errorf("precondition failed: resourceVersion %d, stored object is at %s", m.ResourceVersion, cur.obj.GetResourceVersion()))
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
	gone := cur.obj.DeepCopyObject().(apis.Object)
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
