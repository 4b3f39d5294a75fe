package raftfsm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// APIStore serves the API's storage contract from a Raft node: reads from
// the local FSM (after a read index unless stale reads are asked for),
// writes through Raft.
type APIStore struct {
	node backend
}

// backend is what the APIStore needs from a Raft node. The in-memory store
// for tests implements it without Raft.
type backend interface {
	Apply(ctx context.Context, cmd []byte) (*Result, error)
	ReadIndex(ctx context.Context) error
	ReadIndexFor(ctx context.Context, kind string) error
	FSM() *FSM
}

var _ storage.Store = (*APIStore)(nil)

// NewAPIStore returns the storage the API serves from.
func NewAPIStore(n *Node) *APIStore { return &APIStore{node: n} }

func (s *APIStore) view(ctx context.Context, kind string, stale bool) (*View, error) {
	if !stale {
		if err := s.node.ReadIndexFor(ctx, kind); err != nil {
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("linearizable read: %v", err))
		}
	}
	return s.node.FSM().View(), nil
}

// Get implements storage.Reader.
func (s *APIStore) Get(ctx context.Context, res *resources.Resource, namespace, name string, stale bool) (storage.Record, error) {
	v, err := s.view(ctx, res.Kind, stale)
	if err != nil {
		return nil, err
	}
	rec := v.Record(res.Kind, namespace, name)
	if rec == nil {
		return nil, apierrors.NewNotFound(groupResource(res), name)
	}
	return rec, nil
}

type continueToken struct {
	After string `json:"after"`
}

// List implements storage.Reader. Pages after the first read the state as it
// is when they are asked for, like Kubernetes' inconsistent continuation.
func (s *APIStore) List(ctx context.Context, res *resources.Resource, opts storage.ListOptions) (*storage.ListResult, error) {
	v, err := s.view(ctx, res.Kind, opts.Stale)
	if err != nil {
		return nil, err
	}
	after := ""
	if opts.Continue != "" {
		raw, err := base64.RawURLEncoding.DecodeString(opts.Continue)
		var tok continueToken
		if err == nil {
			err = json.Unmarshal(raw, &tok)
		}
		if err != nil {
			return nil, apierrors.NewBadRequest("continue: not a token this server issued")
		}
		after = tok.After
	}
	filter := Filter{Kind: res.Kind, Selection: opts.Selection, FieldSet: res.SelectableFields}
	out := &storage.ListResult{Revision: v.Revision()}
	var last string
	more := false
	v.Scan(res.Kind, opts.Namespace, after, func(r *record) bool {
		if !filter.matches(recordView(r)) {
			return true
		}
		if opts.Limit > 0 && int64(len(out.Items)) == opts.Limit {
			more = true
			return false
		}
		out.Items = append(out.Items, r)
		last = idKey(r.meta.GetNamespace(), r.meta.GetName())
		return true
	})
	if more {
		raw, _ := json.Marshal(continueToken{After: last})
		out.Continue = base64.RawURLEncoding.EncodeToString(raw)
	}
	return out, nil
}

// Watch implements storage.Reader.
func (s *APIStore) Watch(ctx context.Context, res *resources.Resource, opts storage.WatchOptions) (storage.Watch, error) {
	filter := Filter{Kind: res.Kind, Selection: opts.Selection, FieldSet: res.SelectableFields, IndexField: res.WatchIndex}
	from := opts.ResourceVersion
	var initial []Event
	if from == 0 {
		v := s.node.FSM().View()
		from = v.Revision()
		v.Scan(res.Kind, opts.Namespace, "", func(r *record) bool {
			if filter.matches(recordView(r)) {
				initial = append(initial, Event{Type: Added, Kind: res.Kind, Revision: from, Object: r})
			}
			return true
		})
	}
	w, err := s.node.FSM().hub.Watch(filter, from, initial)
	if err != nil {
		return nil, err
	}
	return w, nil
}

func (s *APIStore) apply(ctx context.Context, t MsgType, msg any) ([]storage.Record, error) {
	cmd, err := Encode(t, msg)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return s.applyCmd(ctx, cmd)
}

func (s *APIStore) applyCmd(ctx context.Context, cmd []byte) ([]storage.Record, error) {
	res, err := s.node.Apply(ctx, cmd)
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); ok {
			return nil, err
		}
		return nil, apierrors.NewServiceUnavailable(err.Error())
	}
	out := make([]storage.Record, len(res.Records))
	for i, r := range res.Records {
		out[i] = r
	}
	return out, nil
}

func one(recs []storage.Record, err error) (storage.Record, error) {
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

func rawObject(obj apis.Object) (json.RawMessage, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("encoding object: %v", err))
	}
	return raw, nil
}

// Create implements storage.Writer.
func (s *APIStore) Create(ctx context.Context, res *resources.Resource, obj apis.Object) (storage.Record, error) {
	raw, err := rawObject(obj)
	if err != nil {
		return nil, err
	}
	return one(s.applyCmd(ctx, EncodeCreate(res.Kind, raw)))
}

// Update implements storage.Writer.
func (s *APIStore) Update(ctx context.Context, res *resources.Resource, obj apis.Object, from uint64) (storage.Record, error) {
	raw, err := rawObject(obj)
	if err != nil {
		return nil, err
	}
	return one(s.applyCmd(ctx, EncodeUpdate(res.Kind, from, raw)))
}

// Delete implements storage.Writer.
func (s *APIStore) Delete(ctx context.Context, res *resources.Resource, namespace, name string, pre storage.Preconditions) (storage.Record, error) {
	return one(s.apply(ctx, MsgDelete, DeleteMsg{Kind: res.Kind, Namespace: namespace, Name: name, UID: pre.UID, ResourceVersion: pre.ResourceVersion}))
}

// Txn implements storage.Writer.
func (s *APIStore) Txn(ctx context.Context, ops []storage.Op) ([]storage.Record, error) {
	msg := TxnMsg{Ops: make([]TxnOp, len(ops))}
	for i, op := range ops {
		switch {
		case op.Create != nil:
			raw, err := rawObject(op.Create)
			if err != nil {
				return nil, err
			}
			msg.Ops[i].Create = &CreateMsg{Kind: op.Resource.Kind, Object: raw}
		case op.Update != nil:
			raw, err := rawObject(op.Update)
			if err != nil {
				return nil, err
			}
			msg.Ops[i].Update = &UpdateMsg{Kind: op.Resource.Kind, Object: raw, ResourceVersion: op.UpdateFrom}
		case op.Delete != nil:
			msg.Ops[i].Delete = &DeleteMsg{Kind: op.Resource.Kind, Namespace: op.Delete.Namespace, Name: op.Delete.Name,
				UID: op.Delete.UID, ResourceVersion: op.Delete.ResourceVersion}
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("transaction operation %d is empty", i))
		}
	}
	return s.apply(ctx, MsgTxn, msg)
}
