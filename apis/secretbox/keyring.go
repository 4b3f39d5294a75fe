package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
)

// Key is one AES-256 key. IDs are random (keyrings of two clusters can be
// merged after a restore); Seq grows with each rotation. The newest key
// encrypts, every key decrypts.
type Key struct {
	ID     string `json:"id"`
	Seq    int    `json:"seq"`
	Secret []byte `json:"secret"`
}

// Keyring holds the keys of a master, persisted in a 0600 file.
type Keyring struct {
	mu   sync.RWMutex
	path string
	keys []Key // sorted by ID
}

// ErrUnknownKey: data was encrypted with a key this master does not have.
var ErrUnknownKey = errors.New("secret encrypted with a key this master does not have")

// NewKey makes a random key with the given sequence number.
func NewKey(seq int) (Key, error) {
	var id [4]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Key{}, err
	}
	k := Key{ID: hex.EncodeToString(id[:]), Seq: seq, Secret: make([]byte, 32)}
	_, err := rand.Read(k.Secret)
	return k, err
}

// CreateKeyring makes a keyring with one new key and saves it at path.
func CreateKeyring(path string) (*Keyring, error) {
	k, err := NewKey(1)
	if err != nil {
		return nil, err
	}
	kr := &Keyring{path: path, keys: []Key{k}}
	return kr, kr.save()
}

// LoadKeyring reads a keyring file.
func LoadKeyring(path string) (*Keyring, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kr := &Keyring{path: path}
	if err := kr.unmarshal(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kr, nil
}

// KeyringFrom builds a keyring from Marshal's bytes and saves it at path.
func KeyringFrom(path string, raw []byte) (*Keyring, error) {
	kr := &Keyring{path: path}
	if err := kr.unmarshal(raw); err != nil {
		return nil, err
	}
	return kr, kr.save()
}

func (kr *Keyring) unmarshal(raw []byte) error {
	var keys []Key
	if err := json.Unmarshal(raw, &keys); err != nil {
		return err
	}
	for _, k := range keys {
		if len(k.Secret) != 32 || !validID(k.ID) {
			return fmt.Errorf("key %q is not a 256-bit key with an 8-hex-digit ID", k.ID)
		}
	}
	if len(keys) == 0 {
		return errors.New("no keys")
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Seq < keys[j].Seq })
	kr.keys = keys
	return nil
}

// Marshal returns the keys, for handing to a joining master over an
// authenticated channel.
func (kr *Keyring) Marshal() ([]byte, error) {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return json.Marshal(kr.keys)
}

// Merge adds keys this keyring lacks (from the leader) and saves.
func (kr *Keyring) Merge(raw []byte) error {
	other := &Keyring{}
	if err := other.unmarshal(raw); err != nil {
		return err
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	have := map[string]bool{}
	for _, k := range kr.keys {
		have[k.ID] = true
	}
	changed := false
	for _, k := range other.keys {
		if !have[k.ID] {
			kr.keys = append(kr.keys, k)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	sort.Slice(kr.keys, func(i, j int) bool { return kr.keys[i].Seq < kr.keys[j].Seq })
	return kr.saveLocked()
}

// Rotate adds a new newest key and saves.
func (kr *Keyring) Rotate() (Key, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	k, err := NewKey(kr.keys[len(kr.keys)-1].Seq + 1)
	if err != nil {
		return Key{}, err
	}
	kr.keys = append(kr.keys, k)
	return k, kr.saveLocked()
}

// Current returns the newest key's ID.
func (kr *Keyring) Current() string {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.keys[len(kr.keys)-1].ID
}

func (kr *Keyring) save() error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	return kr.saveLocked()
}

func (kr *Keyring) saveLocked() error {
	if kr.path == "" {
		return nil
	}
	raw, err := json.Marshal(kr.keys)
	if err != nil {
		return err
	}
	tmp := kr.path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, kr.path)
}

func (kr *Keyring) key(id string) ([]byte, bool) {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	for _, k := range kr.keys {
		if k.ID == id {
			return k.Secret, true
		}
	}
	return nil, false
}

// Seal encrypts plaintext with the newest key; aad binds it to its place
// (the Secret's namespace and name), so it cannot be moved to another.
// The result is "<key id>:<nonce|ciphertext hex>".
func (kr *Keyring) Seal(plaintext, aad []byte) (string, error) {
	id := kr.Current()
	secret, _ := kr.key(id)
	aead, err := newGCM(secret)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return id + ":" + hex.EncodeToString(aead.Seal(nonce, nonce, plaintext, aad)), nil
}

var errMalformed = errors.New("malformed encrypted value")

// Open decrypts what Seal made.
func (kr *Keyring) Open(box string, aad []byte) ([]byte, error) {
	id, body, ok := strings.Cut(box, ":")
	if !ok || !validID(id) {
		return nil, errMalformed
	}
	secret, ok := kr.key(id)
	if !ok {
		return nil, fmt.Errorf("%w (key %s)", ErrUnknownKey, id)
	}
	sealed, err := hex.DecodeString(body)
	if err != nil {
		return nil, errMalformed
	}
	aead, err := newGCM(secret)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errMalformed
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad)
}

// KeyOf returns the ID of the key that sealed box.
func KeyOf(box string) string {
	id, _, _ := strings.Cut(box, ":")
	return id
}

func validID(id string) bool {
	if len(id) != 8 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
