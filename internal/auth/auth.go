// Package auth is hem's producer and operator identity: API keys stored as
// SHA-256 hashes in a keys file (mounted from Secret Manager in production),
// and Google service accounts identified by ID tokens. Both the collector and
// the registry read the same file.
//
// The keys file is JSON:
//
//	{"keys": [
//	  {"name": "checkout-web", "sha256": "<hex sha256 of the key>", "types": ["shop.orders.v1.*"]},
//	  {"name": "ci", "sha256": "...", "schema_write": true},
//	  {"name": "fleet", "service_account": "fleet@p.iam.gserviceaccount.com", "types": ["shop.telemetry.*"]}
//	]}
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
)

// APIKeyHeader is the gRPC metadata key (HTTP header X-Api-Key) carrying an
// API key. Google ID tokens travel as "authorization: Bearer <token>".
const APIKeyHeader = "x-api-key"

// ErrUnauthenticated means no credential, or one that matches no key.
var ErrUnauthenticated = errors.New("missing or unknown credential")

// Principal is an authenticated producer or operator.
type Principal struct {
	// Name identifies the principal; it becomes the events' _producer.
	Name string
	// Types are globs of subjects the principal may send; "*" is all.
	Types []string
	// SchemaWrite allows registering schemas.
	SchemaWrite bool
}

// MayEmit reports whether p may send events of subject.
func (p *Principal) MayEmit(subject string) bool {
	for _, g := range p.Types {
		if ok, _ := path.Match(g, subject); ok || g == "*" {
			return true
		}
	}
	return false
}

type keyEntry struct {
	Name           string   `json:"name"`
	SHA256         string   `json:"sha256,omitempty"`
	ServiceAccount string   `json:"service_account,omitempty"`
	Types          []string `json:"types,omitempty"`
	SchemaWrite    bool     `json:"schema_write,omitempty"`
}

type keysFile struct {
	Keys []keyEntry `json:"keys"`
}

// Keyring resolves credentials to principals. It is immutable and safe for
// concurrent use.
type Keyring struct {
	byHash    map[string]*Principal
	byAccount map[string]*Principal
}

// Load reads a keys file.
func Load(file string) (*Keyring, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	k, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("keys %s: %w", file, err)
	}
	return k, nil
}

// Parse reads the JSON form of a keys file.
func Parse(b []byte) (*Keyring, error) {
	var f keysFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	k := &Keyring{byHash: map[string]*Principal{}, byAccount: map[string]*Principal{}}
	for i, e := range f.Keys {
		if e.Name == "" {
			return nil, fmt.Errorf("key %d: name is required", i)
		}
		for _, g := range e.Types {
			if _, err := path.Match(g, ""); err != nil {
				return nil, fmt.Errorf("key %q: type glob %q: %w", e.Name, g, err)
			}
		}
		p := &Principal{Name: e.Name, Types: e.Types, SchemaWrite: e.SchemaWrite}
		switch {
		case e.SHA256 != "" && e.ServiceAccount != "":
			return nil, fmt.Errorf("key %q: set sha256 or service_account, not both", e.Name)
		case e.SHA256 != "":
			h := strings.ToLower(e.SHA256)
			if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("key %q: sha256 must be 64 hex digits", e.Name)
			}
			k.byHash[h] = p
		case e.ServiceAccount != "":
			k.byAccount[strings.ToLower(e.ServiceAccount)] = p
		default:
			return nil, fmt.Errorf("key %q: set sha256 or service_account", e.Name)
		}
	}
	return k, nil
}

// Add registers an API key (tests and the local stack).
func (k *Keyring) Add(apiKey string, p Principal) {
	k.byHash[HashKey(apiKey)] = &p
}

// New returns an empty keyring.
func New() *Keyring {
	return &Keyring{byHash: map[string]*Principal{}, byAccount: map[string]*Principal{}}
}

// Empty reports whether the keyring holds no credential at all.
func (k *Keyring) Empty() bool { return len(k.byHash) == 0 && len(k.byAccount) == 0 }

// APIKey resolves an API key.
func (k *Keyring) APIKey(key string) (*Principal, error) {
	if key == "" {
		return nil, ErrUnauthenticated
	}
	p, ok := k.byHash[HashKey(key)]
	if !ok {
		return nil, ErrUnauthenticated
	}
	return p, nil
}

// ServiceAccount resolves the e-mail of a verified Google ID token.
func (k *Keyring) ServiceAccount(email string) (*Principal, error) {
	p, ok := k.byAccount[strings.ToLower(email)]
	if !ok {
		return nil, ErrUnauthenticated
	}
	return p, nil
}

// HashKey is the hex SHA-256 stored in keys files.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewKey returns a fresh random API key, "hem_" and 32 characters.
func NewKey() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return "hem_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
