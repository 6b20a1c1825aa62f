package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"
	"golang.org/x/sync/singleflight"

	"github.com/hemlabs/hem/cache"
	"github.com/hemlabs/hem/contract"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	"github.com/hemlabs/hem/registry/compat"
)

// Registry stores the versions of every subject in a GCS bucket and admits
// new ones. It is safe for concurrent use, and several Registry values (in
// one process or in many replicas) may share one bucket and prefix: the
// store's conditional uploads keep them consistent.
type Registry struct {
	cfg   *config
	store *store

	mu   sync.Mutex // serialises installing snapshots
	snap atomic.Pointer[snapshot]

	reloads singleflight.Group
	loads   singleflight.Group
	// schemas holds parsed descriptor sets by id, without state (which
	// changes); every version is immutable otherwise.
	schemas cache.Map[int64, *contract.Schema]
}

// snapshot is one read of the index, immutable once built.
type snapshot struct {
	gen       int64
	file      *indexFile
	byID      map[int64]*entry
	bySubject map[string][]*entry // version order
	subjects  []string            // sorted
	loadedAt  atomic.Int64        // unix nanos of the last read that saw gen
	replaced  chan struct{}       // closed when a newer snapshot is installed
}

func newSnapshot(f *indexFile, gen int64, now time.Time) *snapshot {
	s := &snapshot{
		gen:       gen,
		file:      f,
		byID:      make(map[int64]*entry, len(f.Versions)),
		bySubject: map[string][]*entry{},
		replaced:  make(chan struct{}),
	}
	for i := range f.Versions {
		e := &f.Versions[i]
		s.byID[e.ID] = e
		s.bySubject[e.Subject] = append(s.bySubject[e.Subject], e)
	}
	for subject, es := range s.bySubject {
		slices.SortFunc(es, func(a, b *entry) int { return a.Version - b.Version })
		s.subjects = append(s.subjects, subject)
	}
	slices.Sort(s.subjects)
	s.loadedAt.Store(now.UnixNano())
	return s
}

func (s *snapshot) find(subject, fingerprint string) *entry {
	for _, e := range s.bySubject[subject] {
		if e.Fingerprint == fingerprint {
			return e
		}
	}
	return nil
}

func (s *snapshot) latestUsable(subject string) *entry {
	es := s.bySubject[subject]
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].state() == contract.Usable {
			return es[i]
		}
	}
	return nil
}

// New opens the registry stored in bucket under prefix (which may be
// empty). It reads the index once, so an unreachable bucket fails here. The
// caller keeps ownership of the storage client.
func New(ctx context.Context, bucket *storage.BucketHandle, prefix string, opts ...Option) (*Registry, error) {
	if bucket == nil {
		return nil, errors.New("registry: nil bucket")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	r := &Registry{cfg: cfg, store: newStore(bucket, prefix)}
	if _, err := r.reload(ctx); err != nil {
		return nil, fmt.Errorf("registry: open: %w", err)
	}
	return r, nil
}

// Reserved reports whether subject belongs to hem itself (package hem.*,
// e.g. the built-in hem.event.v1.FailedEvent): such subjects are not
// registered.
func Reserved(subject string) bool { return strings.HasPrefix(subject, "hem.") }

// Outcome says what Register did with one subject.
type Outcome int

const (
	// OutcomeNew means a new version was stored (or, in a dry run, would be).
	OutcomeNew Outcome = iota + 1
	// OutcomeUnchanged means the schema equals a stored version.
	OutcomeUnchanged
	// OutcomeRejected means a rule was broken; see the violations.
	OutcomeRejected
)

func (o Outcome) String() string {
	switch o {
	case OutcomeNew:
		return "NEW"
	case OutcomeUnchanged:
		return "UNCHANGED"
	case OutcomeRejected:
		return "REJECTED"
	}
	return "UNSPECIFIED"
}

// Proto is the API form of o.
func (o Outcome) Proto() registryv1.RegisterOutcome { return registryv1.RegisterOutcome(o) }

// Result is the outcome of registering one subject.
type Result struct {
	Subject string
	Outcome Outcome
	// Schema is the new or existing version, with its identity (ID,
	// Version, State); nil when rejected. A dry run reports a new version
	// with the version it would get and ID 0.
	Schema *contract.Schema
	// Violations say why the schema was rejected.
	Violations []Violation
	// Acknowledged are the retention shortenings (EV-D01) admitted because
	// the caller acknowledged them (AcknowledgeRetention), each saying what
	// goes.
	Acknowledged []Violation
	// Err is a failure for this subject alone, such as a *MigrationError.
	Err error
}

// maxCommitAttempts bounds how often one registration retries after losing
// a race on the index.
const maxCommitAttempts = 200

// Register admits candidates, each the version of one subject, in one
// atomic update of the store. For each candidate:
//
//   - a schema whose fingerprint equals a stored version of its subject is
//     UNCHANGED and gets that version's id back (if that version is still
//     PENDING, its migration is retried);
//   - otherwise it is checked against every earlier version of its subject
//     (compat rules, transitively; a first version only by the lint rules):
//     any violation REJECTS it, anything else is stored as the next version
//     with the next global id. A version shortening a retention of the
//     newest one is refused (EV-D01) unless AcknowledgeRetention names its
//     subject.
//
// New versions are stored PENDING, migrated by every migrator and then made
// USABLE; without migrators they are USABLE at once. Rejections are results,
// not errors. The error is non-nil when the whole call failed (the results
// are then nil), or when some subjects failed on their own: then the results
// are complete and the error joins their Err fields. Register is safe for
// concurrent use, also across replicas sharing the store.
func (r *Registry) Register(ctx context.Context, candidates []*contract.Schema, opts ...RegisterOption) ([]Result, error) {
	var rc registerConfig
	for _, o := range opts {
		o.applyRegister(&rc)
	}
	if err := validCommit(rc.commit); err != nil {
		return nil, fmt.Errorf("registry: register: %w", err)
	}
	seen := map[string]bool{}
	for _, c := range candidates {
		switch {
		case c == nil:
			return nil, fmt.Errorf("registry: register: nil schema: %w", ErrInvalid)
		case Reserved(c.Subject):
			return nil, fmt.Errorf("registry: register %s: subjects in package hem.* are built into hem: %w", c.Subject, ErrInvalid)
		case seen[c.Subject]:
			return nil, fmt.Errorf("registry: register %s: subject given twice: %w", c.Subject, ErrInvalid)
		}
		seen[c.Subject] = true
	}

	commit := newCommitID()
	// A commit needs no fresh read (a stale one loses the conditional
	// upload and re-plans); a dry run has nothing to lose, so it reads.
	maxAge := r.cfg.refresh
	if rc.dryRun {
		maxAge = 0
	}
	snap, err := r.fresh(ctx, maxAge)
	if err != nil {
		return nil, fmt.Errorf("registry: register: %w", err)
	}
	written := map[string]bool{}
	adm := admission{}
	var results []Result
	for attempt := 0; ; attempt++ {
		var added []entry
		results, added, err = r.plan(ctx, snap, candidates, commit, rc, adm)
		if err != nil {
			return nil, fmt.Errorf("registry: register: %w", err)
		}
		if rc.dryRun || len(added) == 0 {
			break
		}
		// Descriptor sets first: the index must never name a missing one.
		for i, e := range added {
			if written[e.Object] {
				continue
			}
			if err := r.store.putSchema(ctx, e.Object, results[r.resultIndex(results, e.Subject)].Schema.DescriptorSet()); err != nil {
				return nil, fmt.Errorf("registry: register %s: %w", added[i].Subject, err)
			}
			written[e.Object] = true
		}
		next := &indexFile{Format: indexFormat, NextID: snap.file.NextID, Versions: slices.Clone(snap.file.Versions)}
		next.Versions = append(next.Versions, added...)
		next.NextID += int64(len(added))
		gen, err := r.store.writeIndex(ctx, next, snap.gen)
		if err == nil {
			r.install(newSnapshot(next, gen, r.cfg.now()))
			for i := range results {
				if results[i].Outcome == OutcomeNew {
					r.schemas.Store(results[i].Schema.ID, results[i].Schema)
				}
			}
			break
		}
		if !errors.Is(err, errConflict) {
			return nil, fmt.Errorf("registry: register: %w", err)
		}
		if attempt+1 >= maxCommitAttempts {
			return nil, fmt.Errorf("registry: register: %w", ErrConflict)
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, fmt.Errorf("registry: register: %w", err)
		}
		// Re-plan on what won: the winner's versions are now priors (or
		// equal fingerprints), and a write of ours whose response was lost
		// shows up with our commit id.
		if snap, err = r.reload(ctx); err != nil {
			return nil, fmt.Errorf("registry: register: %w", err)
		}
	}
	if rc.dryRun {
		for i := range results {
			if s := results[i].Schema; results[i].Outcome == OutcomeNew {
				results[i].Schema = s.WithIdentity(0, s.Version, s.State, s.CreatedAt)
			}
		}
		return results, nil
	}
	return results, r.migrate(ctx, results)
}

func (r *Registry) resultIndex(results []Result, subject string) int {
	return slices.IndexFunc(results, func(res Result) bool { return res.Subject == subject })
}

// plan decides every candidate against snap and lists the index entries to
// add.
func (r *Registry) plan(ctx context.Context, snap *snapshot, candidates []*contract.Schema, commit string, rc registerConfig, adm admission) ([]Result, []entry, error) {
	results := make([]Result, len(candidates))
	var added []entry
	nextID := snap.file.NextID
	now := r.cfg.now().UTC().Truncate(time.Millisecond)
	state := contract.Usable
	if len(r.cfg.migrators) > 0 {
		state = contract.Pending
	}
	for i, c := range candidates {
		res := Result{Subject: c.Subject}
		if e := snap.find(c.Subject, c.Fingerprint()); e != nil {
			res.Outcome = OutcomeUnchanged
			if e.Commit == commit {
				res.Outcome = OutcomeNew // ours, from an attempt whose reply was lost
			}
			res.Schema = e.schema(c)
			results[i] = res
			continue
		}
		priors, err := r.versions(ctx, snap, c.Subject)
		if err != nil {
			return nil, nil, err
		}
		res.Violations = adm.check(c, priors)
		if len(priors) > 0 {
			shortened := compat.Retention(c, priors[len(priors)-1], now, r.expiringRows(ctx, c))
			if rc.ackRetention[c.Subject] {
				res.Acknowledged = shortened
			} else if len(shortened) > 0 {
				res.Violations = append(res.Violations, shortened...)
			}
		}
		if c.IsRollup() {
			source, err := r.rollupSource(ctx, snap, c, candidates)
			if err != nil {
				return nil, nil, err
			}
			res.Violations = withRollupSource(res.Violations, c, source)
		}
		if len(res.Violations) > 0 {
			res.Outcome = OutcomeRejected
			results[i] = res
			continue
		}
		res.Outcome = OutcomeNew
		e := entry{
			Subject:      c.Subject,
			Version:      len(priors) + 1,
			Fingerprint:  c.Fingerprint(),
			State:        state.String(),
			CreatedAt:    now,
			Object:       schemaObject(c.Subject, c.Fingerprint()),
			Commit:       commit,
			PushedBy:     rc.pushedBy,
			SourceCommit: rc.commit,
		}
		e.ID = nextID
		nextID++
		res.Schema = e.schema(c)
		added = append(added, e)
		results[i] = res
	}
	return results, added, nil
}

// migrate runs the migrators for every PENDING version among results and
// marks the ones that succeeded USABLE.
func (r *Registry) migrate(ctx context.Context, results []Result) error {
	var errs []error
	var done []int64
	for i := range results {
		res := &results[i]
		if res.Schema == nil || res.Schema.State != contract.Pending {
			continue
		}
		if len(r.cfg.migrators) == 0 {
			// Stored by a replica with migrators; this one has none to run.
			continue
		}
		var err error
		for _, m := range r.cfg.migrators {
			if err = m.Migrate(ctx, res.Schema); err != nil {
				break
			}
		}
		if err != nil {
			res.Err = &MigrationError{Subject: res.Subject, Version: res.Schema.Version, ID: res.Schema.ID, Err: err}
			errs = append(errs, res.Err)
			continue
		}
		done = append(done, res.Schema.ID)
	}
	if len(done) > 0 {
		if err := r.markUsable(ctx, done); err != nil {
			for i := range results {
				if results[i].Schema != nil && slices.Contains(done, results[i].Schema.ID) {
					results[i].Err = fmt.Errorf("registry: register %s: %w", results[i].Subject, err)
					errs = append(errs, results[i].Err)
				}
			}
			return errors.Join(errs...)
		}
		for i := range results {
			if s := results[i].Schema; s != nil && slices.Contains(done, s.ID) {
				results[i].Schema = s.WithIdentity(s.ID, s.Version, contract.Usable, s.CreatedAt)
			}
		}
	}
	return errors.Join(errs...)
}

// markUsable flips the given versions from PENDING to USABLE.
func (r *Registry) markUsable(ctx context.Context, ids []int64) error {
	snap := r.current()
	for attempt := 0; ; attempt++ {
		next := &indexFile{Format: indexFormat, NextID: snap.file.NextID, Versions: slices.Clone(snap.file.Versions)}
		changed := false
		for i := range next.Versions {
			if slices.Contains(ids, next.Versions[i].ID) && next.Versions[i].State != contract.Usable.String() {
				next.Versions[i].State = contract.Usable.String()
				changed = true
			}
		}
		if !changed {
			return nil
		}
		gen, err := r.store.writeIndex(ctx, next, snap.gen)
		if err == nil {
			r.install(newSnapshot(next, gen, r.cfg.now()))
			return nil
		}
		if !errors.Is(err, errConflict) {
			return err
		}
		if attempt+1 >= maxCommitAttempts {
			return ErrConflict
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
		if snap, err = r.reload(ctx); err != nil {
			return err
		}
	}
}

func newCommitID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// current is the newest installed snapshot.
func (r *Registry) current() *snapshot { return r.snap.Load() }

// install makes s current unless a newer generation is installed.
func (r *Registry) install(s *snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.snap.Load()
	if cur != nil && s.gen <= cur.gen {
		if s.gen == cur.gen {
			cur.loadedAt.Store(s.loadedAt.Load())
		}
		return
	}
	r.snap.Store(s)
	if cur != nil {
		close(cur.replaced)
	}
}

// reload reads the index and returns what it read (also installed when it
// is the newest). Concurrent reloads share one read.
func (r *Registry) reload(ctx context.Context) (*snapshot, error) {
	return flight(ctx, &r.reloads, "index", func(ctx context.Context) (*snapshot, error) {
		f, gen, err := r.store.readIndex(ctx)
		if err != nil {
			return nil, err
		}
		s := newSnapshot(f, gen, r.cfg.now())
		r.install(s)
		return s, nil
	})
}

// fresh returns the current snapshot if it was read within maxAge, else
// re-reads the index.
func (r *Registry) fresh(ctx context.Context, maxAge time.Duration) (*snapshot, error) {
	if s := r.current(); s != nil && r.cfg.now().Sub(time.Unix(0, s.loadedAt.Load())) < maxAge {
		return s, nil
	}
	return r.reload(ctx)
}

// missRefresh rate-limits re-reads of the index caused by unknown ids or
// versions.
const missRefresh = 100 * time.Millisecond

// schemaOf returns the version e describes, loading its descriptor set on
// first use.
func (r *Registry) schemaOf(ctx context.Context, e *entry) (*contract.Schema, error) {
	base, ok := r.schemas.Load(e.ID)
	if !ok {
		var err error
		base, err = flight(ctx, &r.loads, e.Object, func(ctx context.Context) (*contract.Schema, error) {
			b, err := r.store.getSchema(ctx, e.Object)
			if err != nil {
				return nil, err
			}
			s, err := contract.Parse(e.Subject, b)
			if err != nil {
				return nil, fmt.Errorf("store: %s: %w", e.Object, err)
			}
			if s.Fingerprint() != e.Fingerprint {
				return nil, fmt.Errorf("store: %s: fingerprint %s, index says %s", e.Object, s.Fingerprint(), e.Fingerprint)
			}
			return s, nil
		})
		if err != nil {
			return nil, err
		}
		r.schemas.Store(e.ID, base)
	}
	return e.schema(base), nil
}

func (r *Registry) versions(ctx context.Context, snap *snapshot, subject string) ([]*contract.Schema, error) {
	es := snap.bySubject[subject]
	out := make([]*contract.Schema, 0, len(es))
	for _, e := range es {
		s, err := r.schemaOf(ctx, e)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ByID returns the version with the given id, in any state.
func (r *Registry) ByID(ctx context.Context, id int64) (*contract.Schema, error) {
	e, err := r.lookup(ctx, func(s *snapshot) *entry { return s.byID[id] })
	if err != nil {
		return nil, fmt.Errorf("registry: schema %d: %w", id, err)
	}
	return r.schemaOf(ctx, e)
}

// Version returns one version of subject, in any state.
func (r *Registry) Version(ctx context.Context, subject string, version int) (*contract.Schema, error) {
	e, err := r.lookup(ctx, func(s *snapshot) *entry {
		es := s.bySubject[subject]
		if version < 1 || version > len(es) {
			return nil
		}
		return es[version-1]
	})
	if err != nil {
		return nil, fmt.Errorf("registry: %s v%d: %w", subject, version, err)
	}
	return r.schemaOf(ctx, e)
}

// Latest returns the newest USABLE version of subject.
func (r *Registry) Latest(ctx context.Context, subject string) (*contract.Schema, error) {
	snap, err := r.fresh(ctx, r.cfg.refresh)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", subject, err)
	}
	e := snap.latestUsable(subject)
	if e == nil {
		if len(snap.bySubject[subject]) > 0 {
			return nil, fmt.Errorf("registry: %s: no usable version yet: %w", subject, ErrNotFound)
		}
		return nil, fmt.Errorf("registry: subject %s: %w", subject, ErrNotFound)
	}
	return r.schemaOf(ctx, e)
}

// lookup finds an entry, re-reading the index once on a miss.
func (r *Registry) lookup(ctx context.Context, find func(*snapshot) *entry) (*entry, error) {
	if e := find(r.current()); e != nil {
		return e, nil
	}
	snap, err := r.fresh(ctx, missRefresh)
	if err != nil {
		return nil, err
	}
	if e := find(snap); e != nil {
		return e, nil
	}
	return nil, ErrNotFound
}

// Subjects lists every subject with its latest version (in any state), in
// name order.
func (r *Registry) Subjects(ctx context.Context) ([]*registryv1.SubjectInfo, error) {
	snap, err := r.fresh(ctx, r.cfg.refresh)
	if err != nil {
		return nil, fmt.Errorf("registry: subjects: %w", err)
	}
	out := make([]*registryv1.SubjectInfo, 0, len(snap.subjects))
	for _, subject := range snap.subjects {
		es := snap.bySubject[subject]
		last := es[len(es)-1]
		out = append(out, &registryv1.SubjectInfo{Subject: subject, LatestVersion: int32(last.Version), LatestId: last.ID})
	}
	return out, nil
}

// Versions lists the versions of subject, oldest first.
func (r *Registry) Versions(ctx context.Context, subject string) ([]*contract.Schema, error) {
	snap, err := r.fresh(ctx, r.cfg.refresh)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", subject, err)
	}
	if len(snap.bySubject[subject]) == 0 {
		return nil, fmt.Errorf("registry: subject %s: %w", subject, ErrNotFound)
	}
	out, err := r.versions(ctx, snap, subject)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", subject, err)
	}
	return out, nil
}

// Watch calls fn with every USABLE version whose id is greater than
// afterID, in id order, then with each version as it becomes usable
// (including versions with a lower id whose migration finished late),
// until ctx ends or fn fails. Versions written by other replicas are seen
// within the refresh interval. It returns nil when ctx ends.
func (r *Registry) Watch(ctx context.Context, afterID int64, fn func(*contract.Schema) error) error {
	sent := map[int64]bool{}
	tick := time.NewTicker(r.cfg.refresh)
	defer tick.Stop()
	for {
		snap := r.current()
		for i := range snap.file.Versions {
			e := &snap.file.Versions[i]
			if e.ID <= afterID || sent[e.ID] || e.state() != contract.Usable {
				continue
			}
			s, err := r.schemaOf(ctx, e)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("registry: watch: %w", err)
			}
			if err := fn(s); err != nil {
				return err
			}
			sent[e.ID] = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-snap.replaced:
		case <-tick.C:
			// A failed read is retried on the next tick.
			_, _ = r.fresh(ctx, r.cfg.refresh)
		}
	}
}

// expiringRows counts, with the migrators that can, the rows of c's table a
// retention would delete; the registry sees them only through migrators.
func (r *Registry) expiringRows(ctx context.Context, c *contract.Schema) func(time.Time) string {
	return func(before time.Time) string {
		t, err := contract.MapTable(c.Descriptor())
		if err != nil {
			return "" // a rollup: its table is not the event mapping
		}
		var out []string
		for _, m := range r.cfg.migrators {
			ec, ok := m.(ExpiryCounter)
			if !ok {
				continue
			}
			if n, err := ec.CountBefore(ctx, t, before); err == nil {
				out = append(out, fmt.Sprintf("%d rows in %s", n, ec))
			}
		}
		return strings.Join(out, ", ")
	}
}
