package reconciletest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/storage"
	"github.com/skiffhq/skiff/raftfsm"
	"github.com/skiffhq/skiff/reconcile"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// T0 is when every test's fake clock starts.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Env is one test's cluster state.
type Env struct {
	Ctx      context.Context
	Store    storage.Store
	Clock    *clocktesting.FakeClock
	Writer   *reconcile.StoreWriter
	Registry *resources.Registry
	Log      *slog.Logger
	cancel   context.CancelFunc
}

// NewEnv returns an in-memory store holding the default namespace. Its
// context ends when Run's loops are stopped, or when the test ends.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	reg := resources.Default()
	store := raftfsm.NewMemStore(raftfsm.FSMConfig{Registry: reg})
	clk := clocktesting.NewFakeClock(T0)
	var mu sync.Mutex
	uid := 0
	w := reconcile.NewStoreWriter(reconcile.StoreWriterConfig{Store: store, Registry: reg, Clock: clk, NewUID: func() string {
		mu.Lock()
		defer mu.Unlock()
		uid++
		return fmt.Sprintf("uid-%d", uid)
	}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &Env{Ctx: ctx, Store: store, Clock: clk, Writer: w, Registry: reg, Log: Logger(), cancel: cancel}
	if _, err := w.Create(ctx, "Namespace", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// Logger is silent unless the test runs with -v.
func Logger() *slog.Logger {
	if testing.Verbose() {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Res returns the resource of a kind.
func (e *Env) Res(kind string) *resources.Resource {
	res, _ := e.Registry.ByKind(kind)
	return res
}

// Run runs loops until the test ends; then it ends the Env's context and
// checks that every loop stopped, without error, within 10 s.
func (e *Env) Run(t testing.TB, loops ...reconcile.Loop) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- reconcile.RunAll(e.Ctx, e.Log, loops...) }()
	t.Cleanup(func() {
		e.cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunAll: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the loops did not stop")
		}
	})
}
