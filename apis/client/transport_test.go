package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/server"
	"github.com/skiffhq/skiff/raftfsm"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Requests answered at once go over HTTP/1.1, watches over HTTP/2, when
// the server offers both.
func TestClientUsesHTTP1ForRequestsAndHTTP2ForWatches(t *testing.T) {
	reg := resources.Default()
	api := server.New(server.Config{Store: raftfsm.NewMemStore(raftfsm.FSMConfig{Registry: reg}), Registry: reg})
	var mu sync.Mutex
	protos := map[string]string{} // "watch" or "request" -> protocol
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "request"
		if r.URL.Query().Get("watch") == "true" {
			kind = "watch"
		}
		mu.Lock()
		protos[kind] = r.Proto
		mu.Unlock()
		api.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, err := client.New(&client.Config{Servers: []string{srv.URL}}, client.Options{TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx := context.Background()
	if _, err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	res, _ := reg.ByKind("ConfigMap")
	w, err := c.Watch(ctx, res, client.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := c.Create(ctx, cm("a")); err != nil {
		t.Fatal(err)
	}
	if ev := <-w.Events(); ev.Object == nil || ev.Object.GetName() != "a" {
		t.Fatalf("watch event %+v, want configmap a", ev)
	}
	mu.Lock()
	defer mu.Unlock()
	if protos["request"] != "HTTP/1.1" || protos["watch"] != "HTTP/2.0" {
		t.Fatalf("protocols %v, want requests over HTTP/1.1 and watches over HTTP/2.0", protos)
	}
}

// A multiplexing client (a node's agent) sends requests over HTTP/2 too.
func TestMultiplexingClientUsesHTTP2ForRequests(t *testing.T) {
	var mu sync.Mutex
	var proto string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proto = r.Proto
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"gitVersion":"test"}`))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, err := client.New(&client.Config{Servers: []string{srv.URL}}, client.Options{TLS: &tls.Config{RootCAs: pool}, Multiplex: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if proto != "HTTP/2.0" {
		t.Fatalf("request went over %s, want HTTP/2.0", proto)
	}
}
