package storage

import (
	"context"
	"errors"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/resources"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// Record is a stored object and its JSON encoding, made once and shared.
// Neither may be modified.
type Record interface {
	Object() apis.Object
	JSON() []byte
	Kind() string
}

// EventType says what happened to an object.
type EventType string

// Event types, as in Kubernetes watches.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
)

// Event is one change to one object. Object is the object after the change
// (for a deletion, its last state); Prev is the state before, if any.
type Event struct {
	Type     EventType
	Kind     string
	Revision uint64
	Object   Record
	Prev     Record
}

// Selection narrows a list or a watch.
type Selection struct {
	Namespace string          // "" = all namespaces
	Labels    labels.Selector // nil = everything
	Fields    fields.Selector // nil = everything
}

// ListOptions are the options of a list.
type ListOptions struct {
	Selection
	// Limit > 0 returns at most Limit items and a Continue token.
	Limit int64
	// Continue resumes a paged list.
	Continue string
	// Stale allows a follower to answer from its own state without asking
	// the leader (resourceVersion=0 in the request).
	Stale bool
}

// ListResult is one page of a list.
type ListResult struct {
	Items    []Record
	Revision uint64
	Continue string
}

// WatchOptions are the options of a watch.
type WatchOptions struct {
	Selection
	// ResourceVersion resumes after that revision. Zero starts with
	// synthetic ADDED events for everything that exists now.
	ResourceVersion uint64
}

// Watch is a running watch. Events is closed when it ends; Err then says
// why (ErrTooOld, ErrTooSlow, ErrReset, or nil after Stop).
type Watch interface {
	Events() <-chan Event
	Err() error
	Stop()
}

// Preconditions guard a delete.
type Preconditions struct {
	UID             string
	ResourceVersion uint64
}

// Op is one operation of a transaction; exactly one of Create, Update,
// Delete is set.
type Op struct {
	Resource *resources.Resource
	Create   apis.Object
	Update   apis.Object
	// UpdateFrom is the precondition of Update (0 = none).
	UpdateFrom uint64
	Delete     *DeleteOp
}

// DeleteOp names the object to delete.
type DeleteOp struct {
	Namespace, Name string
	Preconditions
}

// Reader reads the store.
type Reader interface {
	// Get returns an object; NotFound when there is none. Unless stale,
	// the read is linearizable.
	Get(ctx context.Context, res *resources.Resource, namespace, name string, stale bool) (Record, error)
	List(ctx context.Context, res *resources.Resource, opts ListOptions) (*ListResult, error)
	Watch(ctx context.Context, res *resources.Resource, opts WatchOptions) (Watch, error)
}

// Writer writes the store. Errors are Kubernetes StatusErrors (NotFound,
// AlreadyExists, Conflict, ...). Create and Update store obj as given (the
// caller has defaulted, validated and stamped it); the store sets only
// resourceVersion.
type Writer interface {
	Create(ctx context.Context, res *resources.Resource, obj apis.Object) (Record, error)
	// Update replaces obj; when from is not zero, only if the stored
	// object is still at resourceVersion from.
	Update(ctx context.Context, res *resources.Resource, obj apis.Object, from uint64) (Record, error)
	Delete(ctx context.Context, res *resources.Resource, namespace, name string, pre Preconditions) (Record, error)
	// Txn applies every op or none.
	Txn(ctx context.Context, ops []Op) ([]Record, error)
}

// Store is what the API serves from.
type Store interface {
	Reader
	Writer
}

// Errors that end or refuse a watch.
var (
	// ErrTooOld: the requested resourceVersion is no longer in the event
	// history; the client must list again (HTTP 410 Gone).
	ErrTooOld = errors.New("resourceVersion too old: it is no longer in the event history")
	// ErrTooSlow: the watcher did not take its events fast enough and was
	// cut off so that applying the log never waits for it.
	ErrTooSlow = errors.New("watcher too slow: events were not consumed in time")
	// ErrReset: the state was replaced by a snapshot; everything must be
	// listed again.
	ErrReset = errors.New("store state replaced from a snapshot")
)
