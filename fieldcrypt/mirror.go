package fieldcrypt

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
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
//
// Put adds the keysets whose objects the mirror does not hold (a keyset it
// holds already changes nothing) and returns how many it added; Objects
// lists the objects it holds; Delete deletes the keysets of the objects
// given, DeleteSubject every keyset of one data subject, and both return
// how many they deleted. A mirror may do each call in as few writes as it
// can: Sync makes a handful of calls however many keysets there are.
type Mirror interface {
	Put(ctx context.Context, ks []Keyset) (int64, error)
	Objects(ctx context.Context) ([]string, error)
	Delete(ctx context.Context, objects []string) (int64, error)
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
	if _, err := k.cfg.mirror.Put(ctx, []Keyset{ks}); err != nil && k.cfg.onMirrorError != nil {
		k.cfg.onMirrorError(ks, err)
	}
}

// SyncReport is what Keyring.Sync found and did.
type SyncReport struct {
	// Keysets is how many keysets the store holds, Held how many objects
	// the mirror held before the sync.
	Keysets, Held int
	// Put is how many keysets the mirror took (those it lacked).
	Put int64
	// Erased is how many data subjects the store has erased; Deleted how
	// many of their rows the mirror still held and deleted.
	Erased  int
	Deleted int64
}

// syncChunk is how many keysets Sync reads from the store before it puts
// them, and syncReaders how many reads run at once.
const (
	syncChunk   = 1000
	syncReaders = 16
)

// Sync puts every keyset of the store that the keyring's mirror lacks and
// deletes from the mirror the keysets of every erased data subject (a copy
// a collector was still writing when the erasure ran). It repairs a
// mirror that missed keysets (a failed Put, a mirror added later). It
// lists the store once and the mirror's objects once, reads from the store
// only the keysets the mirror lacks (still wrapped: Sync never calls the
// key-encryption key), puts them a thousand at a time and deletes the
// erased subjects' rows in one call, so a sync of a large store is a
// handful of mirror calls. Event types' keysets go first. A keyset of an
// erased subject is not put.
func (k *Keyring) Sync(ctx context.Context) (SyncReport, error) {
	var rep SyncReport
	if k.cfg.mirror == nil {
		return rep, errors.New("fieldcrypt: sync: the keyring has no mirror")
	}
	objs, err := k.store.List(ctx, "")
	if err != nil {
		return rep, fmt.Errorf("fieldcrypt: sync: %w", err)
	}
	type subject struct{ field, value string }
	erased := map[subject]bool{}
	var keysets []Name
	for _, o := range objs {
		if field, value, ok := parseErased(o); ok {
			erased[subject{field, value}] = true
			continue
		}
		if n, ok := ParseObject(o); ok { // else audit records
			keysets = append(keysets, n)
		}
	}
	rep.Keysets, rep.Erased = len(keysets), len(erased)
	held, err := k.cfg.mirror.Objects(ctx)
	if err != nil {
		return rep, fmt.Errorf("fieldcrypt: sync: %w", err)
	}
	rep.Held = len(held)
	holds := make(map[string]bool, len(held))
	var gone []string
	for _, o := range held {
		holds[o] = true
		if n, ok := ParseObject(o); ok && n.Scope() == DataSubject && erased[subject{n.SubjectField, n.Subject}] {
			gone = append(gone, o)
		}
	}
	var missing []Name
	for _, n := range keysets {
		if !holds[n.Object()] && !(n.Scope() == DataSubject && erased[subject{n.SubjectField, n.Subject}]) {
			missing = append(missing, n)
		}
	}
	// An event type's keyset serves every row of its type: put those
	// first, in case the run is cut short.
	slices.SortStableFunc(missing, func(a, b Name) int { return int(a.Scope()) - int(b.Scope()) })
	for len(missing) > 0 {
		chunk := missing[:min(len(missing), syncChunk)]
		missing = missing[len(chunk):]
		ks, err := k.readWrapped(ctx, chunk)
		if err != nil {
			return rep, fmt.Errorf("fieldcrypt: sync: %w", err)
		}
		n, err := k.cfg.mirror.Put(ctx, ks)
		rep.Put += n
		if err != nil {
			return rep, fmt.Errorf("fieldcrypt: sync: %w", err)
		}
	}
	if len(gone) > 0 {
		rep.Deleted, err = k.cfg.mirror.Delete(ctx, gone)
		if err != nil {
			return rep, fmt.Errorf("fieldcrypt: sync: erased subjects' keysets: %w", err)
		}
	}
	return rep, nil
}

// readWrapped reads the wrapped keysets of names from the store, a few at
// a time; one erased meanwhile is left out.
func (k *Keyring) readWrapped(ctx context.Context, names []Name) ([]Keyset, error) {
	out := make([]Keyset, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(syncReaders)
	now := k.cfg.now().UTC()
	for i, n := range names {
		g.Go(func() error {
			o := n.Object()
			wrapped, err := k.store.Get(gctx, o)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			out[i] = Keyset{Name: n, Object: o, Wrapped: wrapped, CreatedAt: now}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(out, func(k Keyset) bool { return k.Object == "" }), nil
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
