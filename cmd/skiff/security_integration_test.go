package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/apis"
	"github.com/skiffhq/skiff/apis/client"
	"github.com/skiffhq/skiff/apis/pki"
	"github.com/skiffhq/skiff/apis/resources"
	"github.com/skiffhq/skiff/apis/skiffv1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// workerJoin presents a token and a CSR for node name to a master, as a
// joining agent does, and returns a client holding the node certificate.
func workerJoin(t *testing.T, m *master, token, name, csrName string) (*client.Client, error) {
	t.Helper()
	bundle, err := os.ReadFile(filepath.Join(m.dir, pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	anon, err := client.New(&client.Config{Servers: []string{"https://" + m.api}, CertificateAuthority: string(bundle)}, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	csr, keyPEM, err := pki.NewCSR(csrName)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := anon.Join(context.Background(), &skiffv1.JoinRequest{Token: token, Role: skiffv1.RoleWorker, Name: name, CSR: string(csr)})
	if err != nil {
		return nil, err
	}
	return client.New(&client.Config{Servers: []string{"https://" + m.api}, CertificateAuthority: resp.CABundle,
		ClientCertificate: resp.Certificate, ClientKey: string(keyPEM)}, client.Options{})
}

func TestSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts masters")
	}
	ctx := context.Background()
	m := newMaster(t)
	m.start("--init", "--cert-lifetime", "9s")
	admin := filepath.Join(m.dir, "admin.conf")
	ac := m.client(t)
	for _, want := range []string{"server join token: SKIFF1-", "worker join token: SKIFF1-"} {
		if !strings.Contains(m.logs(), want) {
			t.Fatalf("--init did not print %q:\n%s", want, m.logs())
		}
	}

	t.Run("no certificate is 401", func(t *testing.T) {
		resp, err := insecureHTTP.Get("https://" + m.api + "/api/v1/pods")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	})

	t.Run("a client certificate of another CA is refused", func(t *testing.T) {
		other, _ := pki.NewCA("other", time.Now())
		certPEM, keyPEM, _ := other.Issue(pki.IssueOptions{Identity: pki.Identity{Name: "user:admin", Role: pki.RoleAdmin}})
		bundle, _ := os.ReadFile(filepath.Join(m.dir, pki.CACertFile))
		c, err := client.New(&client.Config{Servers: []string{"https://" + m.api}, CertificateAuthority: string(bundle),
			ClientCertificate: string(certPEM), ClientKey: string(keyPEM)}, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cm, _ := resources.Default().ByKind("ConfigMap")
		if _, err := c.List(ctx, cm, client.ListOptions{}); err == nil {
			t.Fatal("a certificate of another CA was accepted")
		}
	})

	workerToken := strings.TrimSpace(readFile(t, filepath.Join(m.dir, "worker-token")))
	serverToken := strings.TrimSpace(readFile(t, filepath.Join(m.dir, "token")))

	t.Run("tokens", func(t *testing.T) {
		short := strings.TrimSpace(mustCLI(t, admin, "", "token", "create", "--role", "worker", "--ttl", "1s"))
		if _, err := pki.ParseToken(short); err != nil || strings.Contains(short, "\n") {
			t.Fatalf("token create printed %q", short)
		}
		revoked := strings.TrimSpace(mustCLI(t, admin, "", "token", "create", "--role", "worker"))
		tok, _ := pki.ParseToken(revoked)
		mustCLI(t, admin, "", "token", "revoke", tok.ID())
		list := mustCLI(t, admin, "", "token", "list")
		if strings.Contains(list, tok.ID()) || strings.Contains(list, tok.Secret) || strings.Contains(list, strings.Split(workerToken, "-")[2]) {
			t.Fatalf("token list shows a revoked token or a secret:\n%s", list)
		}
		time.Sleep(1500 * time.Millisecond)
		cases := []struct {
			name, token, node, csrName string
			check                      func(error) bool
			mention                    string
		}{
			{"expired", short, "n1", "node:n1", apierrors.IsUnauthorized, "not accepted"},
			{"revoked", revoked, "n1", "node:n1", apierrors.IsUnauthorized, "not accepted"},
			{"wrong secret", "SKIFF1-" + tok.CADigest + "-" + strings.Repeat("ab", 20), "n1", "node:n1", apierrors.IsUnauthorized, "not accepted"},
			{"malformed", "SKIFF1-nonsense", "n1", "node:n1", apierrors.IsBadRequest, "malformed"},
			{"garbage", "hello", "n1", "node:n1", apierrors.IsBadRequest, "malformed"},
			{"CSR for another node's name", workerToken, "n1", "node:n2", apierrors.IsBadRequest, "node:n2"},
		}
		for _, tc := range cases {
			_, err := workerJoin(t, m, tc.token, tc.node, tc.csrName)
			if err == nil || !tc.check(err) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("%s: err = %v, want one mentioning %q", tc.name, err, tc.mention)
			}
		}
		// A worker token can never make a master.
		other := newMaster(t)
		other.cmd = nil
		out, errOut, ok := cli(t, admin, "", "server", "--data-dir", other.dir, "--api-addr", other.api, "--raft-addr", other.raft,
			"--join", m.api, "--token", workerToken, "--no-agent")
		if ok || !strings.Contains(errOut, "a worker token cannot make a master") {
			t.Fatalf("master joining with a worker token: ok=%v\n%s%s", ok, out, errOut)
		}
	})

	t.Run("a server with another CA is refused before anything is sent", func(t *testing.T) {
		impostor := newMaster(t)
		impostor.start("--init")
		joiner := newMaster(t)
		out, errOut, ok := cli(t, admin, "", "server", "--data-dir", joiner.dir, "--api-addr", joiner.api, "--raft-addr", joiner.raft,
			"--join", impostor.api, "--token", serverToken, "--no-agent")
		if ok || !strings.Contains(errOut, "does not match the join token") || !strings.Contains(errOut, "man in the middle") {
			t.Fatalf("join against another CA: ok=%v\n%s%s", ok, out, errOut)
		}
		if _, err := os.Stat(filepath.Join(joiner.dir, "ca.key")); err == nil {
			t.Fatal("the joiner stored credentials from an impostor")
		}
	})

	t.Run("node restriction", func(t *testing.T) {
		nc, err := workerJoin(t, m, workerToken, "n1", "node:n1")
		if err != nil {
			t.Fatal(err)
		}
		pods, _ := resources.Default().ByKind("Pod")
		secrets, _ := resources.Default().ByKind("Secret")
		for _, o := range []apis.Object{
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mine", Namespace: "default"}, StringData: map[string]string{"k": "v"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "default"}, StringData: map[string]string{"k": "v"}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p1", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "n1",
				Containers: []corev1.Container{{Name: "c", Image: "busybox", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "mine"}}}}}}}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p2", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "n2",
				Containers: []corev1.Container{{Name: "c", Image: "busybox", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "theirs"}}}}}}}},
		} {
			if _, err := ac.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := nc.Get(ctx, secrets, "default", "mine"); err != nil {
			t.Fatalf("node reading the secret its pod uses: %v", err)
		}
		if _, err := nc.Get(ctx, secrets, "default", "theirs"); !apierrors.IsForbidden(err) {
			t.Fatalf("node reading another node's secret: %v, want 403", err)
		}
		if _, err := nc.Patch(ctx, pods, "default", "p1", client.MergePatch, []byte(`{"status":{"phase":"Running"}}`), true); err != nil {
			t.Fatalf("node writing its pod's status: %v", err)
		}
		if _, err := nc.Patch(ctx, pods, "default", "p2", client.MergePatch, []byte(`{"status":{"phase":"Running"}}`), true); !apierrors.IsForbidden(err) {
			t.Fatalf("node writing another node's pod: %v, want 403", err)
		}
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
		if _, err := nc.Create(ctx, node); err != nil {
			t.Fatalf("node registering itself: %v", err)
		}
		if _, err := nc.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n9"}}); !apierrors.IsForbidden(err) {
			t.Fatalf("node registering another node: %v, want 403", err)
		}
	})

	t.Run("user roles", func(t *testing.T) {
		dir := t.TempDir()
		alice := filepath.Join(dir, "alice.conf")
		mustCLI(t, admin, "", "user", "create", "alice", "--role", "view", "--out", alice)
		if out := mustCLI(t, alice, "", "get", "pods", "-A", "-o", "name"); !strings.Contains(out, "pod/p1") {
			t.Fatalf("view user listing pods: %q", out)
		}
		if _, errOut, ok := cli(t, alice, "", "delete", "pod", "p1"); ok || !strings.Contains(errOut, "Forbidden") {
			t.Fatalf("view user deleting: ok=%v %s", ok, errOut)
		}
		if _, errOut, ok := cli(t, alice, "", "get", "secrets"); ok || !strings.Contains(errOut, "does not read secrets") {
			t.Fatalf("view user reading secrets: ok=%v %s", ok, errOut)
		}
		// The refused delete is in the audit log.
		waitFor(t, "the refused delete in audit.log", 3*time.Second, func() error {
			log, _ := os.ReadFile(filepath.Join(m.dir, "audit.log"))
			for _, line := range strings.Split(string(log), "\n") {
				if strings.Contains(line, `"user":"user:alice"`) && strings.Contains(line, `"verb":"delete"`) && strings.Contains(line, `"code":403`) {
					return nil
				}
			}
			return errors.New("not logged yet")
		})
		// A user scoped to a namespace acts there only.
		bob := filepath.Join(dir, "bob.conf")
		mustCLI(t, admin, "", "create", "namespace", "shop")
		mustCLI(t, admin, "", "user", "create", "bob", "--role", "edit", "--namespace", "shop", "--out", bob)
		mustCLI(t, bob, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: shop}\n", "apply", "-f", "-")
		if _, errOut, ok := cli(t, bob, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n", "apply", "-f", "-"); ok || !strings.Contains(errOut, `only in namespace "shop"`) {
			t.Fatalf("scoped user outside its namespace: ok=%v %s", ok, errOut)
		}
		// Deleting the user revokes the certificate's access.
		mustCLI(t, admin, "", "delete", "user", "alice")
		if _, errOut, ok := cli(t, alice, "", "get", "pods"); ok || !strings.Contains(errOut, "Unauthorized") {
			t.Fatalf("deleted user: ok=%v %s", ok, errOut)
		}
	})

	t.Run("raft refuses peers without a server certificate", func(t *testing.T) {
		nodeCfg, err := client.LoadConfig(admin)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair([]byte(nodeCfg.ClientCertificate), []byte(nodeCfg.ClientKey))
		if err != nil {
			t.Fatal(err)
		}
		for name, certs := range map[string][]tls.Certificate{"no certificate": nil, "an admin certificate": {cert}} {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", m.raft,
				&tls.Config{InsecureSkipVerify: true, Certificates: certs, MinVersion: tls.VersionTLS13})
			if err == nil {
				conn.SetDeadline(time.Now().Add(2 * time.Second))
				_, err = conn.Read(make([]byte, 1))
				conn.Close()
			}
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("raft port with %s: connection stayed open (%v)", name, err)
			}
		}
	})

	t.Run("secrets never on disk in the clear", func(t *testing.T) {
		value := "sup3r-s3cret-v4lue-" + base64.RawURLEncoding.EncodeToString([]byte(t.Name()))[:8]
		manifest := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\nstringData:\n  password: " + value + "\n"
		mustCLI(t, admin, manifest, "apply", "-f", "-")
		mustCLI(t, admin, manifest, "apply", "-f", "-")
		if out := mustCLI(t, admin, "", "get", "secret", "plain", "-o", "yaml"); !strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(value))) {
			t.Fatalf("secret not readable through the API:\n%s", out)
		}
		mustCLI(t, admin, "", "snapshot", "save", filepath.Join(m.dir, "backup.snap"))
		out := mustCLI(t, admin, "", "secrets", "rotate-key")
		if !strings.Contains(out, "re-encrypted") {
			t.Fatalf("rotate-key: %q", out)
		}
		if out := mustCLI(t, admin, "", "get", "secret", "plain", "-o", "yaml"); !strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(value))) {
			t.Fatalf("secret not readable after key rotation:\n%s", out)
		}
		mustCLI(t, admin, "", "snapshot", "save", filepath.Join(m.dir, "after-rotation.snap"))
		needles := [][]byte{[]byte(value), []byte(base64.StdEncoding.EncodeToString([]byte(value)))}
		checked := 0
		filepath.WalkDir(m.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			checked++
			for _, n := range needles {
				if bytes.Contains(raw, n) {
					t.Errorf("%s holds the secret in the clear", path)
				}
			}
			return nil
		})
		if checked < 8 {
			t.Fatalf("only %d files checked", checked)
		}
	})

	t.Run("certificates renew without a restart", func(t *testing.T) {
		first := readFile(t, filepath.Join(m.dir, "server.crt"))
		waitFor(t, "server certificate renewed", 15*time.Second, func() error {
			if readFile(t, filepath.Join(m.dir, "server.crt")) == first {
				return errors.New("not yet")
			}
			return nil
		})
		// New connections see the new certificate and work.
		fresh := m.client(t)
		if _, err := fresh.Members(ctx); err != nil {
			t.Fatalf("API after renewal: %v", err)
		}
	})

	t.Run("CA rotation keeps old and new credentials working", func(t *testing.T) {
		oldAdmin := filepath.Join(t.TempDir(), "old-admin.conf")
		if err := os.WriteFile(oldAdmin, []byte(readFile(t, admin)), 0o600); err != nil {
			t.Fatal(err)
		}
		oldCA := readFile(t, filepath.Join(m.dir, pki.CACertFile))
		out := mustCLI(t, admin, "", "ca", "rotate")
		if !strings.Contains(out, "new cluster CA sha256") {
			t.Fatalf("ca rotate: %q", out)
		}
		if readFile(t, filepath.Join(m.dir, pki.CACertFile)) == oldCA {
			t.Fatal("ca.crt did not change")
		}
		// The old config (old CA, old admin certificate) still works: the
		// master's new certificate chains to the old root.
		mustCLI(t, oldAdmin, "", "cluster", "members")
		waitFor(t, "admin.conf re-issued from the new CA", 5*time.Second, func() error {
			cfg, err := client.LoadConfig(admin)
			if err != nil || cfg.CertificateAuthority == oldCA {
				return errors.New("not yet")
			}
			return nil
		})
		mustCLI(t, admin, "", "cluster", "members")
		// Tokens of the old CA stop working, new ones work.
		if _, err := workerJoin(t, m, workerToken, "n5", "node:n5"); err == nil || !strings.Contains(err.Error(), "previous CA") {
			t.Fatalf("old token after rotation: %v", err)
		}
		fresh := strings.TrimSpace(mustCLI(t, admin, "", "token", "create", "--role", "worker"))
		if _, err := workerJoin(t, m, fresh, "n5", "node:n5"); err != nil {
			t.Fatalf("new token after rotation: %v", err)
		}
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
