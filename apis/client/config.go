package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// ConfigEnv names the environment variable holding the client config path.
const ConfigEnv = "SKIFF_CONFIG"

// Config is a client config file (admin.conf): where the masters are and,
// once the cluster has its PKI, how to trust them and prove who we are.
type Config struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Servers are the masters' API URLs, tried in order.
	Servers []string `json:"servers"`
	// CertificateAuthority is the cluster CA certificate (PEM).
	CertificateAuthority string `json:"certificateAuthority,omitempty"`
	// ClientCertificate and ClientKey identify the user (PEM).
	ClientCertificate string `json:"clientCertificate,omitempty"`
	ClientKey         string `json:"clientKey,omitempty"`
}

// ConfigPath returns the config to use: the flag's value, else
// $SKIFF_CONFIG, else ~/.skiff/config.
func ConfigPath(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(ConfigEnv); env != "" {
		return env
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".skiff", "config")
	}
	return filepath.Join(home, ".skiff", "config")
}

// LoadConfig reads a client config file.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no client config at %s: pass --config, set $%s, or copy <data-dir>/admin.conf there", path, ConfigEnv)
	}
	if err != nil {
		return nil, err
	}
	var cfg Config
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("%s: no servers listed", path)
	}
	return &cfg, nil
}

// WriteConfig writes a client config file readable only by its owner,
// replacing any old one atomically.
func WriteConfig(path string, cfg *Config) error {
	cfg.APIVersion, cfg.Kind = "skiff.io/v1", "ClientConfig"
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
