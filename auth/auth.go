// Package auth is hem's producer and operator identity: API keys stored as
// SHA-256 hashes in a keys file (mounted from Secret Manager in production),
// and Google service accounts identified by ID tokens. Both the collector and
// the registry read the same file.
//
// The keys file is JSON:
//
//	{"defaults": {"rate": 5000, "inflight_share": 0.5},
//	 "keys": [
//	  {"name": "checkout-web", "sha256": "<hex sha256 of the key>", "types": ["shop.orders.v1.*"]},
//	  {"name": "ci", "sha256": "...", "schema_write": true},
//	  {"name": "fleet", "service_account": "fleet@p.iam.gserviceaccount.com", "types": ["shop.telemetry.*"],
//	   "rate": 20000, "burst": 40000, "inflight_share": 0.8}
//	]}
//
// A producer's quota (see Quota) comes from its entry, else from
// "defaults", else from DefaultQuota.
//
// A running service sees changes to the file: Watch rereads it and swaps
// the keyring's contents, so a removed key is refused from then on.
package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"time"
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
	// Quota bounds what the principal may send.
	Quota Quota
}

// Quota is a producer's share of a collector, so one producer cannot starve
// the others.
type Quota struct {
	// Rate is the events per second the producer may send to one collector
	// instance; 0 is unlimited.
	Rate float64
	// Burst is the events the producer may send at once above Rate; 0 lets
	// the collector pick (a second of Rate, at least one full batch).
	Burst int
	// InflightShare is the fraction (0 < share ≤ 1) of the collector's
	// in-flight budget the producer's requests may hold at once.
	InflightShare float64
}

// DefaultQuota is the quota of a key without one in the keys file: no rate
// limit, and half of the in-flight budget, so one producer always leaves
// room for the others.
func DefaultQuota() Quota { return Quota{InflightShare: 0.5} }

// quotaEntry is a quota in the keys file; absent fields inherit.
type quotaEntry struct {
	Rate          *float64 `json:"rate,omitempty"`
	Burst         *int     `json:"burst,omitempty"`
	InflightShare *float64 `json:"inflight_share,omitempty"`
}

// over is q with the fields e sets replaced.
func (e quotaEntry) over(q Quota) (Quota, error) {
	if e.Rate != nil {
		if *e.Rate < 0 {
			return q, fmt.Errorf("rate %v must not be negative", *e.Rate)
		}
		q.Rate = *e.Rate
	}
	if e.Burst != nil {
		if *e.Burst < 0 {
			return q, fmt.Errorf("burst %d must not be negative", *e.Burst)
		}
		q.Burst = *e.Burst
	}
	if e.InflightShare != nil {
		if *e.InflightShare <= 0 || *e.InflightShare > 1 {
			return q, fmt.Errorf("inflight_share %v must be in (0, 1]", *e.InflightShare)
		}
		q.InflightShare = *e.InflightShare
	}
	return q, nil
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
	quotaEntry
}

type keysFile struct {
	Defaults quotaEntry `json:"defaults"`
	Keys     []keyEntry `json:"keys"`
}

// Keyring resolves credentials to principals. It is safe for concurrent
// use; Reload and Add swap its contents atomically (copy-on-write).
type Keyring struct {
	set atomic.Pointer[keySet]
}

// keySet is one immutable version of a keyring's contents.
type keySet struct {
	gen       uint64
	byHash    map[string]*Principal
	byAccount map[string]*Principal
}

func newKeyring(s *keySet) *Keyring {
	k := &Keyring{}
	k.set.Store(s)
	return k
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
	s, err := parse(b)
	if err != nil {
		return nil, err
	}
	return newKeyring(s), nil
}

func parse(b []byte) (*keySet, error) {
	var f keysFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt quota must not pass silently
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	defaults, err := f.Defaults.over(DefaultQuota())
	if err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	k := &keySet{byHash: map[string]*Principal{}, byAccount: map[string]*Principal{}}
	for i, e := range f.Keys {
		if e.Name == "" {
			return nil, fmt.Errorf("key %d: name is required", i)
		}
		for _, g := range e.Types {
			if _, err := path.Match(g, ""); err != nil {
				return nil, fmt.Errorf("key %q: type glob %q: %w", e.Name, g, err)
			}
		}
		q, err := e.quotaEntry.over(defaults)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", e.Name, err)
		}
		p := &Principal{Name: e.Name, Types: e.Types, SchemaWrite: e.SchemaWrite, Quota: q}
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

// Add registers an API key (tests and the local stack). A zero Quota is
// DefaultQuota.
func (k *Keyring) Add(apiKey string, p Principal) {
	if p.Quota == (Quota{}) {
		p.Quota = DefaultQuota()
	}
	for {
		old := k.set.Load()
		next := &keySet{gen: old.gen + 1, byHash: make(map[string]*Principal, len(old.byHash)+1), byAccount: old.byAccount}
		for h, v := range old.byHash {
			next.byHash[h] = v
		}
		next.byHash[HashKey(apiKey)] = &p
		if k.set.CompareAndSwap(old, next) {
			return
		}
	}
}

// Reload replaces the keyring's contents with the keys file b. On error
// the contents stay as they were.
func (k *Keyring) Reload(b []byte) error {
	next, err := parse(b)
	if err != nil {
		return err
	}
	for {
		old := k.set.Load()
		next.gen = old.gen + 1
		if k.set.CompareAndSwap(old, next) {
			return nil
		}
	}
}

// Generation changes whenever the contents change (Reload, Add), so
// callers that remember what the keyring answered know when to forget it.
func (k *Keyring) Generation() uint64 { return k.set.Load().gen }

// New returns an empty keyring.
func New() *Keyring {
	return newKeyring(&keySet{byHash: map[string]*Principal{}, byAccount: map[string]*Principal{}})
}

// Empty reports whether the keyring holds no credential at all.
func (k *Keyring) Empty() bool {
	s := k.set.Load()
	return len(s.byHash) == 0 && len(s.byAccount) == 0
}

// APIKey resolves an API key.
func (k *Keyring) APIKey(key string) (*Principal, error) {
	if key == "" {
		return nil, ErrUnauthenticated
	}
	p, ok := k.set.Load().byHash[HashKey(key)]
	if !ok {
		return nil, ErrUnauthenticated
	}
	return p, nil
}

// ServiceAccount resolves the e-mail of a verified Google ID token.
func (k *Keyring) ServiceAccount(email string) (*Principal, error) {
	p, ok := k.set.Load().byAccount[strings.ToLower(email)]
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

// DefaultReloadInterval is how often Watch rereads the keys file by default.
const DefaultReloadInterval = 10 * time.Second

// Watch rereads the keys file every interval (DefaultReloadInterval when
// zero or less) and reloads k when its content changed, until ctx ends; it
// then returns nil. Content is compared, not the modification time: Secret
// Manager volumes and Kubernetes secrets swap files without a reliable
// mtime. A file that cannot be read or parsed leaves k as it is and is
// reported to log (nil logs nothing), then tried again.
func Watch(ctx context.Context, file string, k *Keyring, interval time.Duration, log *slog.Logger) error {
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The first tick reloads whatever the file holds: it may have changed
	// since k was loaded.
	var last []byte
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		b, err := os.ReadFile(file)
		if err != nil {
			log.Warn("keys file not reloaded; keeping the keys loaded before", "file", file, "error", err)
			continue
		}
		if bytes.Equal(b, last) {
			continue
		}
		last = b // a broken file is reported once, not at every tick
		if err := k.Reload(b); err != nil {
			log.Warn("keys file not reloaded; keeping the keys loaded before", "file", file, "error", err)
			continue
		}
		log.Info("keys file reloaded", "file", file)
	}
}
