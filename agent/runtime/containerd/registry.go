package containerd

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/containerd/containerd/remotes/docker"
	"github.com/skiffhq/skiff/agent/runtime"
	"sigs.k8s.io/yaml"
)

// RegistryConfig is the registries file (--registry-config), shaped like
// k3s's registries.yaml:
//
//	mirrors:
//	  docker.io:
//	    endpoint: ["http://127.0.0.1:5000"]
//	configs:
//	  "registry.example.com":
//	    plainHTTP: true
//	    auth: {username: u, password: p}
type RegistryConfig struct {
	Mirrors map[string]Mirror         `json:"mirrors,omitempty"`
	Configs map[string]RegistryAccess `json:"configs,omitempty"`
}

// Mirror lists the endpoints tried, in order, before the registry itself.
type Mirror struct {
	Endpoints []string `json:"endpoint"`
}

// RegistryAccess configures one registry host.
type RegistryAccess struct {
	// PlainHTTP speaks HTTP instead of HTTPS. Loopback registries always
	// may (containerd's own rule for localhost).
	PlainHTTP bool `json:"plainHTTP,omitempty"`
	// InsecureSkipVerify accepts any TLS certificate.
	InsecureSkipVerify bool          `json:"insecureSkipVerify,omitempty"`
	Auth               *RegistryAuth `json:"auth,omitempty"`
}

// RegistryAuth are a registry's credentials.
type RegistryAuth struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// LoadRegistryConfig reads a registries file; unknown fields are refused.
func LoadRegistryConfig(path string) (*RegistryConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg RegistryConfig
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for host, m := range cfg.Mirrors {
		for _, ep := range m.Endpoints {
			u, err := url.Parse(ep)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("%s: mirrors.%s.endpoint %q: must be an http:// or https:// URL", path, host, ep)
			}
		}
	}
	return &cfg, nil
}

// hosts builds containerd's RegistryHosts: mirrors first, then the
// registry; credentials from the pod's pull secrets win over the file's.
func (c *RegistryConfig) hosts(creds []runtime.Credential) docker.RegistryHosts {
	if c == nil {
		c = &RegistryConfig{}
	}
	credFor := func(host string) (string, string, error) {
		for _, cr := range creds {
			if cr.Host == host || (host == "registry-1.docker.io" && cr.Host == "docker.io") {
				return userPass(cr.Username, cr.Password, cr.Auth)
			}
		}
		if a, ok := c.Configs[host]; ok && a.Auth != nil {
			return userPass(a.Auth.Username, a.Auth.Password, a.Auth.Auth)
		}
		return "", "", nil
	}
	authorizer := docker.NewDockerAuthorizer(docker.WithAuthCreds(credFor))
	client := func(host string) *http.Client {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if a, ok := c.Configs[host]; ok && a.InsecureSkipVerify {
			tr.TLSClientConfig.InsecureSkipVerify = true
		}
		return &http.Client{Transport: tr, Timeout: 10 * time.Minute}
	}
	plain := func(host string) bool {
		if a, ok := c.Configs[host]; ok && a.PlainHTTP {
			return true
		}
		local, _ := docker.MatchLocalhost(host)
		return local
	}
	return func(refHost string) ([]docker.RegistryHost, error) {
		var out []docker.RegistryHost
		for _, ep := range c.Mirrors[refHost].Endpoints {
			u, _ := url.Parse(ep)
			path := strings.TrimSuffix(u.Path, "/")
			if path == "" {
				path = "/v2"
			}
			out = append(out, docker.RegistryHost{Client: client(u.Host), Authorizer: authorizer, Host: u.Host,
				Scheme: u.Scheme, Path: path, Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve})
		}
		host := refHost
		if host == "docker.io" {
			host = "registry-1.docker.io"
		}
		scheme := "https"
		if plain(refHost) {
			scheme = "http"
		}
		out = append(out, docker.RegistryHost{Client: client(refHost), Authorizer: authorizer, Host: host,
			Scheme: scheme, Path: "/v2", Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve})
		return out, nil
	}
}

func userPass(user, pass, auth string) (string, string, error) {
	if auth == "" {
		return user, pass, nil
	}
	raw, err := base64.StdEncoding.DecodeString(auth)
	if err != nil {
		return "", "", fmt.Errorf("registry auth: not base64: %w", err)
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("registry auth: not user:password")
	}
	return u, p, nil
}
