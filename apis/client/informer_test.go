package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newServer(t *testing.T, history, buffer int) (*client.Client, *httptest.Server) {
	t.Helper()
	reg := resources.Default()
	srv := httptest.NewServer(server.New(server.Config{Store: raftfsm.NewMemStore(raftfsm.FSMConfig{Registry: reg, History: history, WatchBuffer: buffer}), Registry: reg}))
	t.Cleanup(srv.Close)
	c, err := client.New(&client.Config{Servers: []string{srv.URL}}, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func cm(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
}

// recorder collects an informer's events.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e == s {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within 5s", what)
}

func TestInformerFollowsChangesAndRelists(t *testing.T) {
	c, _ := newServer(t, 4, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, _ := resources.Default().ByKind("ConfigMap")
	if _, err := c.Create(ctx, cm("before")); err != nil {
		t.Fatal(err)
	}
	inf := client.NewInformer(c, res, client.ListOptions{Namespace: "default"}, nil)
	rec := &recorder{}
	inf.AddHandler(client.Handler{
		OnAdd:    func(o apis.Object) { rec.add("add " + o.GetName()) },
		OnUpdate: func(_, o apis.Object) { rec.add("update " + o.GetName()) },
		OnDelete: func(o apis.Object) { rec.add("delete " + o.GetName()) },
	})
	go inf.Run(ctx)
	<-inf.Synced()
	if !rec.has("add before") || inf.Get("default", "before") == nil {
		t.Fatal("initial list missing")
	}
	if _, err := c.Create(ctx, cm("a")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "watch delivers the create", func() bool { return rec.has("add a") })
	if _, err := c.Delete(ctx, res, "default", "before", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "watch delivers the delete", func() bool { return rec.has("delete before") && inf.Get("default", "before") == nil })

	// Many writes at once overflow the one-event watch buffer and the
	// 4-event history: the watcher is cut off, its resume is too old, and
	// the relist after the 410 brings back what it missed.
	for i := 0; i < 30; i++ {
		if _, err := c.Create(ctx, cm(fmt.Sprint("burst-", i))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the cache holds every object", func() bool { return len(inf.List()) == 31 })
}
