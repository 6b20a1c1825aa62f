// Package ledger records every object a file source loads: one entry per
// (source, object, generation) in a GCS bucket, claimed atomically so that
// one loader at a time loads an object, and updated with a resume
// checkpoint so that the next one carries on where a dead one stopped.
//
// An entry is the object
//
//	<prefix><source>/<hex sha256 of uri>-<generation>.json
//
// holding the protojson of a hem.source.v1.LedgerEntry, readable with
// gsutil cat. Atomicity rests on conditional uploads only (the local GCS
// server enforces nothing else): a claim creates the entry with
// DoesNotExist, or takes an entry whose lease ended over with
// GenerationMatch of the generation it read; every later write of the
// owner carries GenerationMatch of the generation it last wrote, so a
// loader whose entry was taken over learns it on its next write (ErrLost)
// instead of overwriting its successor's progress.
package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
)

// ErrLost means another owner took the entry over (its lease had ended):
// the caller must stop loading the object.
var ErrLost = errors.New("taken over by another owner")

// ErrNotFound means the object has no entry.
var ErrNotFound = errors.New("no ledger entry")

// Ledger reads and writes entries in one bucket under one prefix. It is safe
// for concurrent use; the writes of one entry through one Ledger are
// serialized.
type Ledger struct {
	bucket *storage.BucketHandle
	prefix string // "" or ending in "/"
	now    func() time.Time

	mu   sync.Mutex
	held map[heldKey]*holding // what this Ledger last wrote, per entry and owner
}

type heldKey struct{ name, owner string }

// holding is an entry this Ledger claimed: the generation of its last write
// is the precondition of the next.
type holding struct {
	mu  sync.Mutex // serializes writes of the entry
	gen int64
}

// Option configures a Ledger.
type Option interface{ apply(*Ledger) }

type optionFunc func(*Ledger)

func (f optionFunc) apply(l *Ledger) { f(l) }

// WithClock sets the clock that times leases and entries (default
// time.Now), for tests.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(l *Ledger) {
		if now != nil {
			l.now = now
		}
	})
}

// New returns a ledger on bucket under prefix ("ledger" and "ledger/" are
// the same prefix).
func New(bucket *storage.BucketHandle, prefix string, opts ...Option) *Ledger {
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	l := &Ledger{bucket: bucket, prefix: prefix, now: time.Now, held: map[heldKey]*holding{}}
	for _, o := range opts {
		o.apply(l)
	}
	return l
}

// ObjectName is the name of the object that holds the entry of (source,
// uri, generation), in the ledger's bucket.
func (l *Ledger) ObjectName(source, uri string, generation int64) string {
	sum := sha256.Sum256([]byte(uri))
	return l.prefix + source + "/" + hex.EncodeToString(sum[:]) + "-" + strconv.FormatInt(generation, 10) + ".json"
}

// Location is where the entry of e lives, as gs://BUCKET/NAME (for a human
// with gsutil cat).
func (l *Ledger) Location(e *sourcev1.LedgerEntry) string {
	return "gs://" + l.bucket.BucketName() + "/" + l.ObjectName(e.GetSource(), e.GetUri(), e.GetGeneration())
}

func checkIdentity(e *sourcev1.LedgerEntry) error {
	switch {
	case e == nil:
		return errors.New("ledger: nil entry")
	case e.GetSource() == "" || strings.Contains(e.GetSource(), "/"):
		return fmt.Errorf("ledger: source %q: want a non-empty name without '/'", e.GetSource())
	case e.GetUri() == "":
		return errors.New("ledger: entry without uri")
	case e.GetGeneration() < 0:
		return fmt.Errorf("ledger: generation %d < 0", e.GetGeneration())
	}
	return nil
}

// Done reports whether status ends a load: the object is not loaded again.
func Done(s sourcev1.Status) bool {
	return s == sourcev1.Status_STATUS_LOADED || s == sourcev1.Status_STATUS_QUARANTINED || s == sourcev1.Status_STATUS_FAILED
}

// claimAttempts bounds the read-then-write rounds of one Claim: each lost
// round means another claimer wrote, and the next read sees its entry.
const claimAttempts = 8

// Claim takes (e.source, e.uri, e.generation) for owner for lease.
//
// Without an entry it creates one from e (its size and checksums are kept)
// with status LOADING, owner, lease_until, started_at and attempts 1. An
// entry LOADING under a lease that ended is taken over: owner and lease
// change, attempts+1, the checkpoint and counts stay. Otherwise — the entry
// is done (LOADED, QUARANTINED, FAILED) or its lease runs — claimed is false
// and entry is the entry as stored. Of concurrent claimers exactly one gets
// claimed=true; the others get false, not an error.
func (l *Ledger) Claim(ctx context.Context, e *sourcev1.LedgerEntry, owner string, lease time.Duration) (entry *sourcev1.LedgerEntry, claimed bool, err error) {
	if err := checkIdentity(e); err != nil {
		return nil, false, err
	}
	if owner == "" {
		return nil, false, errors.New("ledger: claim without owner")
	}
	if lease <= 0 {
		return nil, false, fmt.Errorf("ledger: lease %v: want > 0", lease)
	}
	name := l.ObjectName(e.GetSource(), e.GetUri(), e.GetGeneration())
	for range claimAttempts {
		cur, gen, err := l.read(ctx, name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, false, err
		}
		now := l.now()
		var next *sourcev1.LedgerEntry
		cond := storage.Conditions{DoesNotExist: true}
		switch {
		case cur == nil:
			next = proto.CloneOf(e)
			next.Status = sourcev1.Status_STATUS_LOADING
			next.StartedAt = timestamppb.New(now)
			next.Attempts = 1
			next.FinishedAt = nil
		case cur.GetStatus() != sourcev1.Status_STATUS_LOADING:
			return cur, false, nil
		case cur.GetLeaseUntil().AsTime().After(now):
			return cur, false, nil
		default:
			next = proto.CloneOf(cur)
			next.Attempts++
			cond = storage.Conditions{GenerationMatch: gen}
		}
		next.Owner = owner
		next.LeaseUntil = timestamppb.New(now.Add(lease))
		next.UpdatedAt = timestamppb.New(now)
		newGen, err := l.write(ctx, name, cond, next)
		if errors.Is(err, errConflict) {
			continue // another claimer wrote first: read what it wrote
		}
		if err != nil {
			return nil, false, err
		}
		l.mu.Lock()
		l.held[heldKey{name, owner}] = &holding{gen: newGen}
		l.mu.Unlock()
		return next, true, nil
	}
	return nil, false, fmt.Errorf("ledger: claim %s: lost %d races in a row", l.uri(name), claimAttempts)
}

// Update writes e (status, counts, checkpoint, event ids, reason) if its
// owner still holds it, and renews the lease for lease (unless e is done).
// It sets e's updated_at and lease_until, and finished_at when e is done.
// It returns an error wrapping ErrLost when another owner took the entry
// over, or when e.owner does not hold it.
//
// The precondition is the generation this Ledger last wrote for the entry;
// a Ledger that did not claim it (another process of the same owner) reads
// the entry first and writes only if e.owner holds it.
func (l *Ledger) Update(ctx context.Context, e *sourcev1.LedgerEntry, lease time.Duration) error {
	if err := checkIdentity(e); err != nil {
		return err
	}
	if e.GetOwner() == "" {
		return errors.New("ledger: update without owner")
	}
	done := Done(e.GetStatus())
	if !done && lease <= 0 {
		return fmt.Errorf("ledger: lease %v: want > 0", lease)
	}
	name := l.ObjectName(e.GetSource(), e.GetUri(), e.GetGeneration())
	key := heldKey{name, e.GetOwner()}

	l.mu.Lock()
	h := l.held[key]
	if h == nil {
		h = &holding{}
		l.held[key] = h
	}
	l.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()

	gen := h.gen
	if gen == 0 {
		cur, curGen, err := l.read(ctx, name)
		if err != nil {
			l.forget(key, h)
			return err
		}
		if cur.GetOwner() != e.GetOwner() || cur.GetStatus() != sourcev1.Status_STATUS_LOADING {
			l.forget(key, h)
			return fmt.Errorf("ledger: update %s by %q: held by %q (%s): %w", l.uri(name), e.GetOwner(), cur.GetOwner(), cur.GetStatus(), ErrLost)
		}
		gen = curGen
	}

	now := l.now()
	next := proto.CloneOf(e)
	next.UpdatedAt = timestamppb.New(now)
	if done {
		if next.FinishedAt == nil {
			next.FinishedAt = next.UpdatedAt
		}
	} else {
		next.LeaseUntil = timestamppb.New(now.Add(lease))
	}
	newGen, err := l.write(ctx, name, storage.Conditions{GenerationMatch: gen}, next)
	if errors.Is(err, errConflict) {
		l.forget(key, h)
		return fmt.Errorf("ledger: update %s by %q: %w", l.uri(name), e.GetOwner(), ErrLost)
	}
	if err != nil {
		return err
	}
	e.UpdatedAt, e.LeaseUntil, e.FinishedAt = next.UpdatedAt, next.LeaseUntil, next.FinishedAt
	if done {
		l.forget(key, h) // nothing writes a done entry again
	} else {
		h.gen = newGen
	}
	return nil
}

// Release ends the lease of every LOADING entry of owner at once, so the
// next claimer takes them over without waiting for the leases to run out.
// It is for a loader whose owner name only one process can hold (hem dev's,
// by its folder's lock) when it starts again after being killed: what the
// owner holds is then what its previous run left. It returns the number of
// entries released; one another owner took meanwhile is left alone.
func (l *Ledger) Release(ctx context.Context, owner string) (int, error) {
	if owner == "" {
		return 0, errors.New("ledger: release without owner")
	}
	entries, err := l.List(ctx, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.GetOwner() != owner || e.GetStatus() != sourcev1.Status_STATUS_LOADING {
			continue
		}
		name := l.ObjectName(e.GetSource(), e.GetUri(), e.GetGeneration())
		cur, gen, err := l.read(ctx, name)
		if err != nil {
			return n, err
		}
		if cur.GetOwner() != owner || cur.GetStatus() != sourcev1.Status_STATUS_LOADING {
			continue
		}
		now := l.now()
		cur.LeaseUntil, cur.UpdatedAt = timestamppb.New(now), timestamppb.New(now)
		if _, err := l.write(ctx, name, storage.Conditions{GenerationMatch: gen}, cur); err != nil {
			if errors.Is(err, errConflict) {
				continue // taken over meanwhile
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// forget drops what this Ledger remembers of key (the caller holds h.mu).
func (l *Ledger) forget(key heldKey, h *holding) {
	h.gen = 0
	l.mu.Lock()
	if l.held[key] == h {
		delete(l.held, key)
	}
	l.mu.Unlock()
}

// Get reads the entry of (source, uri, generation); an error wrapping
// ErrNotFound when there is none.
func (l *Ledger) Get(ctx context.Context, source, uri string, generation int64) (*sourcev1.LedgerEntry, error) {
	if err := checkIdentity(&sourcev1.LedgerEntry{Source: source, Uri: uri, Generation: generation}); err != nil {
		return nil, err
	}
	e, _, err := l.read(ctx, l.ObjectName(source, uri, generation))
	return e, err
}

// listReaders bounds the entries List reads at once.
const listReaders = 8

// List reads the entries of source ("" = every source), sorted by
// started_at (then source, uri, generation). An object it cannot read or
// decode does not hide the others: List returns every entry it read and an
// error naming each object it could not.
func (l *Ledger) List(ctx context.Context, source string) ([]*sourcev1.LedgerEntry, error) {
	if strings.Contains(source, "/") {
		return nil, fmt.Errorf("ledger: source %q: want a name without '/'", source)
	}
	q := &storage.Query{Prefix: l.prefix}
	if source != "" {
		q.Prefix += source + "/"
	}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil, fmt.Errorf("ledger: list: %w", err)
	}
	var names []string
	it := l.bucket.Objects(ctx, q)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ledger: list gs://%s/%s: %w", l.bucket.BucketName(), q.Prefix, err)
		}
		if isEntryName(strings.TrimPrefix(a.Name, l.prefix)) {
			names = append(names, a.Name)
		}
	}

	entries := make([]*sourcev1.LedgerEntry, len(names))
	errs := make([]error, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listReaders)
	for i, name := range names {
		g.Go(func() error {
			e, _, err := l.read(gctx, name)
			if errors.Is(err, ErrNotFound) {
				return nil // deleted since it was listed
			}
			entries[i], errs[i] = e, err
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("ledger: list: %w", err)
	}
	entries = slices.DeleteFunc(entries, func(e *sourcev1.LedgerEntry) bool { return e == nil })
	slices.SortStableFunc(entries, compareEntries)
	return entries, errors.Join(errs...)
}

// isEntryName reports whether rel (a name below the prefix) has the shape
// <source>/<64 hex>-<generation>.json; other objects under the prefix are
// not entries.
func isEntryName(rel string) bool {
	source, base, ok := strings.Cut(rel, "/")
	if !ok || source == "" || strings.Contains(base, "/") {
		return false
	}
	base, ok = strings.CutSuffix(base, ".json")
	if !ok {
		return false
	}
	hash, gen, ok := strings.Cut(base, "-")
	if !ok || len(hash) != 2*sha256.Size {
		return false
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return false
	}
	_, err := strconv.ParseInt(gen, 10, 64)
	return err == nil
}

func compareEntries(a, b *sourcev1.LedgerEntry) int {
	if c := a.GetStartedAt().AsTime().Compare(b.GetStartedAt().AsTime()); c != 0 {
		return c
	}
	if c := strings.Compare(a.GetSource(), b.GetSource()); c != 0 {
		return c
	}
	if c := strings.Compare(a.GetUri(), b.GetUri()); c != 0 {
		return c
	}
	switch {
	case a.GetGeneration() < b.GetGeneration():
		return -1
	case a.GetGeneration() > b.GetGeneration():
		return 1
	}
	return 0
}
