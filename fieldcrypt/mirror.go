package fieldcrypt

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Keyset is one wrapped keyset as a Mirror holds it.
type Keyset struct {
	Name    Name
	Object  string // Name.Object()
	Wrapped []byte
	// CreatedAt is when the keyring created it (for a keyset synced
	// later, when it was synced).
	CreatedAt time.Time
}

// Mirror is a copy of the store's keysets kept where others read them: the
// BigQuery keys table the <table>_decrypted views join. The store stays
// the source of truth: a keyset is created in the store first and then
// put in the mirror, and Keyring.Sync puts whatever the mirror missed.
// Put of an object the mirror holds already changes nothing.
// DeleteSubject deletes every keyset of one data subject and returns how
// many it deleted.
type Mirror interface {
	Put(ctx context.Context, k Keyset) error
	DeleteSubject(ctx context.Context, field, value string) (int64, error)
}

// WithMirror makes the keyring put each keyset it creates into m, and
// EraseSubject delete the subject's keysets from m. A failed Put does not
// fail the event that needed the key (the keyset is safe in the store):
// onError, when not nil, hears of it, and Keyring.Sync (hem keys sync)
// repairs the mirror.
func WithMirror(m Mirror, onError func(Keyset, error)) Option {
	return optionFunc(func(c *config) { c.mirror, c.onMirrorError = m, onError })
}

// mirror puts a keyset the keyring just created.
func (k *Keyring) mirror(ctx context.Context, n Name, wrapped []byte) {
	if k.cfg.mirror == nil {
		return
	}
	ks := Keyset{Name: n, Object: n.Object(), Wrapped: wrapped, CreatedAt: k.cfg.now().UTC()}
	if err := k.cfg.mirror.Put(ctx, ks); err != nil && k.cfg.onMirrorError != nil {
		k.cfg.onMirrorError(ks, err)
	}
}

// Sync puts every keyset of the store into the keyring's mirror (those it
// holds already are left as they are) and deletes from the mirror the
// keysets of every erased data subject (a copy a collector was still
// writing when the erasure ran); it returns how many keysets it put and
// how many rows it deleted. It repairs a mirror that missed keysets (a
// failed Put, a mirror added later); it takes one Put per keyset and one
// DeleteSubject per erased subject.
func (k *Keyring) Sync(ctx context.Context) (put int, deleted int64, err error) {
	if k.cfg.mirror == nil {
		return 0, 0, errors.New("fieldcrypt: sync: the keyring has no mirror")
	}
	objs, err := k.store.List(ctx, "")
	if err != nil {
		return 0, 0, fmt.Errorf("fieldcrypt: sync: %w", err)
	}
	for _, o := range objs {
		if field, value, ok := parseErased(o); ok {
			d, err := k.cfg.mirror.DeleteSubject(ctx, field, value)
			if err != nil {
				return put, deleted, fmt.Errorf("fieldcrypt: sync: erased subject of %s: %w", o, err)
			}
			deleted += d
			continue
		}
		n, ok := ParseObject(o)
		if !ok {
			continue // audit records
		}
		wrapped, err := k.store.Get(ctx, o)
		if errors.Is(err, ErrNotFound) {
			continue // erased meanwhile
		}
		if err != nil {
			return put, deleted, fmt.Errorf("fieldcrypt: sync: %w", err)
		}
		if err := k.cfg.mirror.Put(ctx, Keyset{Name: n, Object: o, Wrapped: wrapped, CreatedAt: k.cfg.now().UTC()}); err != nil {
			return put, deleted, fmt.Errorf("fieldcrypt: sync %s: %w", o, err)
		}
		put++
	}
	return put, deleted, nil
}

// parseErased is the data subject of a tombstone's object name.
func parseErased(o string) (field, value string, ok bool) {
	parts := strings.Split(o, "/")
	if len(parts) != 4 || parts[0] != "subject" || parts[3] != "erased" || !isIdent(parts[1], false) {
		return "", "", false
	}
	v, err := hex.DecodeString(parts[2])
	if err != nil || len(v) == 0 {
		return "", "", false
	}
	return parts[1], string(v), true
}

// ParseObject is the Name whose Object is o; false for any other object
// of a store (tombstones, audit records).
func ParseObject(o string) (Name, bool) {
	parts := strings.Split(o, "/")
	var n Name
	switch {
	case len(parts) == 3 && parts[0] == "type":
		n.Type = parts[1]
	case len(parts) == 5 && parts[0] == "subject":
		v, err := hex.DecodeString(parts[2])
		if err != nil {
			return Name{}, false
		}
		n.SubjectField, n.Subject, n.Type = parts[1], string(v), parts[3]
	default:
		return Name{}, false
	}
	switch parts[len(parts)-1] {
	case AEAD.String():
		n.Kind = AEAD
	case Deterministic.String():
		n.Kind = Deterministic
	default:
		return Name{}, false
	}
	if n.validate() != nil || n.Object() != o {
		return Name{}, false
	}
	return n, true
}
