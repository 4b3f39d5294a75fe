package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/auth"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// blockingStore holds every create of an object named "block" until
// released, and counts the creates that reach it.
type blockingStore struct {
	storage.Store
	entered chan struct{}
	release chan struct{}
	creates atomic.Int32
}

func (s *blockingStore) Create(ctx context.Context, res *resources.Resource, obj apis.Object) (storage.Record, error) {
	s.creates.Add(1)
	if obj.GetName() == "block" {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.Store.Create(ctx, res, obj)
}

// Nodes' writes are served NodeWritesInFlight at a time; other callers',
// and nodes' reads, go at once.
func TestNodeWritesWaitTheirTurn(t *testing.T) {
	reg := resources.Default()
	mem := raftfsm.NewMemStore(raftfsm.FSMConfig{Registry: reg})
	nsRes, _ := reg.ByKind("Namespace")
	if _, err := mem.Create(context.Background(), nsRes, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	store := &blockingStore{Store: mem, entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv := httptest.NewServer(server.New(server.Config{Store: store, Registry: reg, NodeWritesInFlight: 1,
		Authenticate: func(r *http.Request) (auth.User, error) {
			if r.Header.Get("X-Test-Node") != "" {
				return auth.User{Name: "node:n1", Role: auth.RoleNode, Node: "n1"}, nil
			}
			return auth.User{Name: "user:admin", Role: auth.RoleAdmin}, nil
		}}))
	t.Cleanup(srv.Close)
	send := func(node bool, method, path, body string) <-chan int {
		done := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if node {
				req.Header.Set("X-Test-Node", "1")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		return done
	}
	event := func(name string) string {
		return `{"apiVersion":"v1","kind":"Event","metadata":{"name":"` + name + `"},"involvedObject":{"kind":"Pod","name":"p","namespace":"default"},"reason":"Started"}`
	}
	wait := func(what string, done <-chan int) int {
		t.Helper()
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no answer", what)
			return 0
		}
	}
	const events = "/api/v1/namespaces/default/events"

	first := send(true, http.MethodPost, events, event("block"))
	<-store.entered
	second := send(true, http.MethodPost, events, event("second"))
	if code := wait("a user's write", send(false, http.MethodPost, events, event("by-a-user"))); code != http.StatusCreated {
		t.Fatalf("a user's write while a node's is served: %d", code)
	}
	if code := wait("a node's read", send(true, http.MethodGet, events, "")); code != http.StatusOK {
		t.Fatalf("a node's read while a node's write is served: %d", code)
	}
	time.Sleep(100 * time.Millisecond)
	if n := store.creates.Load(); n != 2 {
		t.Fatalf("%d creates reached the store while the first node write held the only turn, want 2 (it and the user's)", n)
	}
	close(store.release)
	if code := wait("the first node write", first); code != http.StatusCreated {
		t.Fatalf("first node write: %d", code)
	}
	if code := wait("the second node write", second); code != http.StatusCreated {
		t.Fatalf("second node write: %d", code)
	}
}
