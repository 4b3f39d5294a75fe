package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/util/validation"
)

// serverID returns this master's Raft server ID, made once and kept in
// <data-dir>/server-id: the host name plus a random suffix, so that two
// masters on one host (tests, demos) never collide.
func serverID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "server-id")
	raw, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(raw)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	host, _ := os.Hostname()
	host = strings.ToLower(strings.Split(host, ".")[0])
	if host == "" || len(validation.IsDNS1123Label(host)) > 0 || len(host) > 40 {
		host = "master"
	}
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := fmt.Sprintf("%s-%s", host, hex.EncodeToString(b[:]))
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

func newUID() string { return uuid.NewString() }
