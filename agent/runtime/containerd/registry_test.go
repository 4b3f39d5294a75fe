package containerd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/agent/runtime"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "registries.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRegistryConfigMirrorsAndPlainHTTP(t *testing.T) {
	cfg, err := LoadRegistryConfig(writeConfig(t, `
mirrors:
  docker.io:
    endpoint: ["http://127.0.0.1:5000", "https://mirror.example/v2"]
configs:
  registry.internal:
    plainHTTP: true
    auth: {username: u, password: p}
`))
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := cfg.hosts(nil)("docker.io")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, h := range hosts {
		got = append(got, h.Scheme+"://"+h.Host+h.Path)
	}
	want := "http://127.0.0.1:5000/v2 https://mirror.example/v2 https://registry-1.docker.io/v2"
	if strings.Join(got, " ") != want {
		t.Fatalf("docker.io hosts = %v, want %s", got, want)
	}
	for ref, scheme := range map[string]string{"registry.internal": "http", "127.0.0.1:5000": "http", "quay.io": "https"} {
		hosts, _ := cfg.hosts(nil)(ref)
		if last := hosts[len(hosts)-1]; last.Scheme != scheme {
			t.Errorf("%s: scheme %s, want %s", ref, last.Scheme, scheme)
		}
	}
}

func TestRegistryConfigRefusesTyposAndBadEndpoints(t *testing.T) {
	for name, body := range map[string]string{
		"unknown field":  "mirrors:\n  docker.io:\n    endpoints: [http://x]\n",
		"not a URL":      "mirrors:\n  docker.io:\n    endpoint: [\"127.0.0.1:5000\"]\n",
		"unknown scheme": "mirrors:\n  docker.io:\n    endpoint: [\"ftp://x\"]\n",
	} {
		if _, err := LoadRegistryConfig(writeConfig(t, body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCredentialsFromPullSecretsWin(t *testing.T) {
	cfg := &RegistryConfig{Configs: map[string]RegistryAccess{"r.example": {Auth: &RegistryAuth{Username: "file", Password: "f"}}}}
	creds := []runtime.Credential{{Host: "r.example", Auth: "c2VjcmV0dXNlcjpzZWNyZXRwdw=="}} // secretuser:secretpw
	user, pass, err := userPass(creds[0].Username, creds[0].Password, creds[0].Auth)
	if err != nil || user != "secretuser" || pass != "secretpw" {
		t.Fatalf("auth decode: %q %q %v", user, pass, err)
	}
	if _, _, err := userPass("", "", "not base64!"); err == nil {
		t.Fatal("bad auth accepted")
	}
	if hosts, _ := cfg.hosts(creds)("r.example"); hosts[0].Authorizer == nil {
		t.Fatal("no authorizer")
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":            "docker.io/library/busybox:latest",
		"skiff.local/echo:1": "skiff.local/echo:1",
		"127.0.0.1:5000/a/b": "127.0.0.1:5000/a/b:latest",
	} {
		if got, err := NormalizeRef(in); err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
	if _, err := NormalizeRef("Skiff.local/UPPER:1"); err == nil {
		t.Error("an upper-case repository was accepted")
	}
}
