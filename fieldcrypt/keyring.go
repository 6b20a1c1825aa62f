package fieldcrypt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Keyring hands out the primitives of named keysets kept wrapped in a
// Store, caching them per name. It is safe for concurrent use.
type Keyring struct {
	store Store
	kek   tink.AEAD
	cfg   config

	mu    sync.RWMutex
	cache map[Name]*entry
}

type entry struct {
	aead  tink.AEAD
	daead tink.DeterministicAEAD
	err   error     // ErrErased, cached like a key
	until time.Time // zero: kept until evicted
}

// Option configures a Keyring.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	create    bool
	ttl       time.Duration
	maxCached int
	now       func() time.Time

	mirror        Mirror
	onMirrorError func(Keyset, error)
}

// WithCreate makes the keyring create a missing keyset on first use (the
// collector's keyring); without it a missing keyset is ErrNotFound.
func WithCreate() Option { return optionFunc(func(c *config) { c.create = true }) }

// WithTTL sets how long a data subject's primitive (or erasure) is used
// from the cache before the store is asked again (default 1 minute): the
// longest a collector keeps encrypting for a subject erased elsewhere.
func WithTTL(d time.Duration) Option { return optionFunc(func(c *config) { c.ttl = d }) }

// WithMaxCached bounds the cached primitives (default 100000); past it the
// cache starts over.
func WithMaxCached(n int) Option { return optionFunc(func(c *config) { c.maxCached = n }) }

// WithClock sets the clock of the cache's time to live.
func WithClock(now func() time.Time) Option { return optionFunc(func(c *config) { c.now = now }) }

// NewKeyring returns a keyring over store whose keysets kek wraps.
func NewKeyring(store Store, kek tink.AEAD, opts ...Option) (*Keyring, error) {
	if store == nil || kek == nil {
		return nil, errors.New("fieldcrypt: a store and a key-encryption key are required")
	}
	cfg := config{ttl: time.Minute, maxCached: 100_000, now: time.Now}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.ttl <= 0 || cfg.maxCached <= 0 {
		return nil, errors.New("fieldcrypt: the cache's time to live and size must be positive")
	}
	return &Keyring{store: store, kek: kek, cfg: cfg, cache: map[Name]*entry{}}, nil
}

// AEAD returns the AEAD primitive of n, whose kind must be AEAD.
func (k *Keyring) AEAD(ctx context.Context, n Name) (tink.AEAD, error) {
	if n.Kind != AEAD {
		return nil, fmt.Errorf("fieldcrypt: %v is not an AEAD key", n)
	}
	e, err := k.entry(ctx, n)
	if err != nil {
		return nil, err
	}
	return e.aead, nil
}

// Deterministic returns the deterministic AEAD primitive of n, whose kind
// must be Deterministic.
func (k *Keyring) Deterministic(ctx context.Context, n Name) (tink.DeterministicAEAD, error) {
	if n.Kind != Deterministic {
		return nil, fmt.Errorf("fieldcrypt: %v is not a deterministic AEAD key", n)
	}
	e, err := k.entry(ctx, n)
	if err != nil {
		return nil, err
	}
	return e.daead, nil
}

func (k *Keyring) entry(ctx context.Context, n Name) (*entry, error) {
	now := k.cfg.now()
	k.mu.RLock()
	e, ok := k.cache[n]
	k.mu.RUnlock()
	if ok && (e.until.IsZero() || now.Before(e.until)) {
		return e, e.err
	}
	if err := n.validate(); err != nil {
		return nil, err
	}
	e, err := k.load(ctx, n)
	if err != nil && !errors.Is(err, ErrErased) {
		return nil, err
	}
	if n.Scope() == DataSubject {
		e.until = now.Add(k.cfg.ttl)
	}
	k.mu.Lock()
	if len(k.cache) >= k.cfg.maxCached {
		k.cache = map[Name]*entry{}
	}
	k.cache[n] = e
	k.mu.Unlock()
	return e, e.err
}

// load reads n's keyset, creating it when the keyring creates keys.
func (k *Keyring) load(ctx context.Context, n Name) (*entry, error) {
	wrapped, err := k.store.Get(ctx, n.Object())
	if err == nil {
		return k.unwrap(n, wrapped)
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err := k.checkErased(ctx, n); err != nil {
		return &entry{err: err}, err
	}
	if !k.cfg.create {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, n)
	}
	wrapped, err = k.newWrapped(n)
	if err != nil {
		return nil, err
	}
	created := false
	switch err := k.store.Create(ctx, n.Object(), wrapped); {
	case err == nil:
		created = true
	case errors.Is(err, ErrExists):
		// Another collector created it first: use theirs.
		if wrapped, err = k.store.Get(ctx, n.Object()); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	// An erasure that ran between the check and the create must win.
	if err := k.checkErased(ctx, n); err != nil {
		if derr := k.store.Delete(ctx, n.Object()); derr != nil {
			return nil, errors.Join(err, derr)
		}
		return &entry{err: err}, err
	}
	e, err := k.unwrap(n, wrapped)
	if err == nil && created {
		k.mirror(ctx, n, wrapped)
	}
	return e, err
}

func (k *Keyring) checkErased(ctx context.Context, n Name) error {
	if n.Scope() != DataSubject {
		return nil
	}
	_, err := k.store.Get(ctx, erasedObject(n.SubjectField, n.Subject))
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s=%s", ErrErased, n.SubjectField, n.Subject)
	case errors.Is(err, ErrNotFound):
		return nil
	}
	return err
}

func (k *Keyring) newWrapped(n Name) ([]byte, error) {
	tmpl := aead.AES256GCMKeyTemplate()
	if n.Kind == Deterministic {
		tmpl = daead.AESSIVKeyTemplate()
	}
	h, err := keyset.NewHandle(tmpl)
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: new keyset: %w", err)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewBinaryWriter(&buf)); err != nil {
		return nil, fmt.Errorf("fieldcrypt: new keyset: %w", err)
	}
	wrapped, err := k.kek.Encrypt(buf.Bytes(), nil)
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: wrap %v: %w", n, err)
	}
	return wrapped, nil
}

// unwrap decrypts a wrapped keyset and builds its primitive.
func (k *Keyring) unwrap(n Name, wrapped []byte) (*entry, error) {
	clear, err := k.kek.Decrypt(wrapped, nil)
	if errors.Is(err, ErrKEKUnavailable) {
		return nil, fmt.Errorf("fieldcrypt: unwrap %v: %w", n, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v does not unwrap with the key-encryption key: %w", ErrCorrupt, n, err)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewBinaryReader(bytes.NewReader(clear)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v: %w", ErrCorrupt, n, err)
	}
	e := &entry{}
	if n.Kind == AEAD {
		e.aead, err = aead.New(h)
	} else {
		e.daead, err = daead.New(h)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v: %w", ErrCorrupt, n, err)
	}
	return e, nil
}

// Wrapped returns n's wrapped keyset as the store holds it (the
// KEYS.KEYSET_CHAIN argument in BigQuery).
func (k *Keyring) Wrapped(ctx context.Context, n Name) ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	return k.store.Get(ctx, n.Object())
}

// Erasure is what EraseSubject did.
type Erasure struct {
	Field, Value string
	At           time.Time
	// Deleted are the objects of the keysets deleted.
	Deleted []string
	// MirrorDeleted is how many keysets the mirror deleted (when the
	// keyring has one, WithMirror).
	MirrorDeleted int64
}

// EraseSubject deletes every keyset of the data subject field=value (of
// every event type) and leaves a tombstone, so no key is created for them
// again: their encrypted fields can no longer be read anywhere. With a
// mirror, it then deletes the subject's keysets there too. It is
// idempotent: run it again after a failure.
func (k *Keyring) EraseSubject(ctx context.Context, field, value string) (*Erasure, error) {
	if !isIdent(field, false) {
		return nil, fmt.Errorf("fieldcrypt: data subject field %q is not a field name", field)
	}
	if value == "" {
		return nil, ErrEmptySubject
	}
	at := k.cfg.now().UTC()
	tomb := erasedObject(field, value)
	// The tombstone first: a collector that creates a key after it finds it.
	if err := k.store.Create(ctx, tomb, []byte(at.Format(time.RFC3339Nano))); err != nil && !errors.Is(err, ErrExists) {
		return nil, fmt.Errorf("fieldcrypt: erase %s=%s: %w", field, value, err)
	}
	objs, err := k.store.List(ctx, SubjectPrefix(field, value))
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: erase %s=%s: %w", field, value, err)
	}
	er := &Erasure{Field: field, Value: value, At: at}
	for _, o := range objs {
		if o == tomb {
			continue
		}
		if err := k.store.Delete(ctx, o); err != nil {
			return er, fmt.Errorf("fieldcrypt: erase %s=%s: %w", field, value, err)
		}
		er.Deleted = append(er.Deleted, o)
	}
	k.mu.Lock()
	for n := range k.cache {
		if n.SubjectField == field && n.Subject == value {
			delete(k.cache, n)
		}
	}
	k.mu.Unlock()
	if k.cfg.mirror != nil {
		if er.MirrorDeleted, err = k.cfg.mirror.DeleteSubject(ctx, field, value); err != nil {
			return er, fmt.Errorf("fieldcrypt: erase %s=%s from the mirror (the store is erased; run it again): %w", field, value, err)
		}
	}
	return er, nil
}
