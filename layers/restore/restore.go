// Package restore brings archived events back into a warehouse, after the
// warehouse's own table let them go (its partition expiration): it reads
// the archive objects of one event type whose hour partitions overlap a
// window of event time, decodes them with the descriptor sets the objects
// carry (no registry), shapes every version's rows as the newest version in
// the window (or the warehouse table's live shape, when the target has
// that table), keeps one row per event id, and loads them into a separate
// restore table that expires on its own.
//
// Run checks what it loaded: per day of event time it digests the archive's
// distinct event ids as it reads them, and the restore table's after the
// load, as a verify.Sum (a count and an order-independent checksum), and
// fails with ErrMismatch when a day's sums differ.
//
// Targets: BigQuery (one load job of NDJSON streamed as it is read, into a
// table created with an expiration time) and DuckDB, whose tables do not
// expire: a DuckDB restore records its expiry in the _hem_restores table,
// and DropExpired drops the restore tables past it (each restore does, and
// hem dev when it opens its warehouse).
package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/layers/verify"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/archive"
)

// Target is a warehouse that takes a restore.
type Target interface {
	// Begin (re)creates table, empty, shaped as shape's table or, when the
	// target has it, as source (the contract's table) is now, and
	// expiring at expires.
	Begin(ctx context.Context, table, source string, shape *contract.Schema, expires time.Time) error
	// Write adds events (distinct ids, oldest first) to the table.
	Write(ctx context.Context, events []*sink.Event) error
	// Finish makes what was written durable and digests the table's
	// distinct ids per UTC day of _event_time in [since, until).
	Finish(ctx context.Context, since, until time.Time) (map[time.Time]verify.Sum, error)
}

// aborter is a Target that holds something to let go of when a restore
// fails before Finish.
type aborter interface{ Abort(err error) }

// Config is one restore.
type Config struct {
	// Subject is the event type.
	Subject string
	// Since and Until bound the event time: [Since, Until).
	Since, Until time.Time
	// Table names the restore table (default DefaultTable).
	Table string
	// Expires is how long the restore table lives (default 7 days).
	Expires time.Duration
	// Now is the clock the expiry counts from (default time.Now).
	Now func() time.Time
	// BatchSize is how many events go to Target.Write at once (default
	// 5000).
	BatchSize int
	// Progress, if set, is called as objects are read, at most every
	// ProgressEvery rows (default 100,000).
	Progress      func(Progress)
	ProgressEvery int64
}

// Progress is how far a restore got.
type Progress struct {
	Objects, ObjectsTotal int
	Rows                  int64 // archived rows read (copies included)
}

// Day is what a restore found for one UTC day of event time.
type Day struct {
	Day time.Time
	// Rows is the archived rows read, copies of one event included.
	Rows int64
	// Archive digests the distinct ids read, Table those in the restore
	// table.
	Archive, Table verify.Sum
}

// Result is what a restore did.
type Result struct {
	Table   string
	Expires time.Time
	// Shape is the version the rows were shaped as.
	Shape   *contract.Schema
	Objects int
	Rows    int64 // archived rows read
	Loaded  int64 // distinct ids loaded
	Days    []Day
	Elapsed time.Duration
}

// ErrMismatch is returned (wrapped) when a day's restore table does not
// hold the archive's distinct ids.
var ErrMismatch = errors.New("restore: the restore table differs from the archive")

// ErrEmpty is returned when the archive holds no object in the window.
var ErrEmpty = errors.New("restore: nothing archived in the window")

// DefaultTable names the restore table of table over [since, until):
// <table>_restore_<since>_<until>, days as YYYYMMDD, the end inclusive
// (until's day, or the day before when until is a midnight).
func DefaultTable(table string, since, until time.Time) string {
	last := until.UTC().Add(-time.Nanosecond)
	return fmt.Sprintf("%s_restore_%s_%s", table, since.UTC().Format("20060102"), last.Format("20060102"))
}

// Run restores cfg.Subject's archived events of [cfg.Since, cfg.Until)
// from the archive into target.
func Run(ctx context.Context, r *archive.Reader, target Target, cfg Config) (*Result, error) {
	begin := time.Now()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Expires == 0 {
		cfg.Expires = 7 * 24 * time.Hour
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 100_000
	}
	if cfg.Subject == "" {
		return nil, errors.New("restore: an event type (subject) is required")
	}
	if !cfg.Until.After(cfg.Since) {
		return nil, fmt.Errorf("restore: empty window [%s, %s)", cfg.Since.Format(time.RFC3339), cfg.Until.Format(time.RFC3339))
	}
	if cfg.Expires < 0 {
		return nil, fmt.Errorf("restore: expiry %s: must be positive", cfg.Expires)
	}
	objects, err := r.Objects(ctx, cfg.Subject, cfg.Since, cfg.Until)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if len(objects) == 0 {
		return nil, fmt.Errorf("%w: %s in [%s, %s)", ErrEmpty, cfg.Subject, cfg.Since.Format(time.RFC3339), cfg.Until.Format(time.RFC3339))
	}
	schemas, err := r.Schemas(ctx, objects)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	shape := schemas[len(schemas)-1]
	t, err := contract.MapTable(shape.Descriptor())
	if err != nil {
		return nil, fmt.Errorf("restore: %s: %w", cfg.Subject, err)
	}
	res := &Result{Table: cfg.Table, Shape: shape, Expires: cfg.Now().Add(cfg.Expires)}
	if res.Table == "" {
		res.Table = DefaultTable(t.Name, cfg.Since, cfg.Until)
	}
	if strings.EqualFold(res.Table, t.Name) {
		return nil, fmt.Errorf("restore: the restore table must not be the event table %s", t.Name)
	}
	if err := target.Begin(ctx, res.Table, t.Name, shape, res.Expires); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}

	days := map[time.Time]*Day{}
	var order []time.Time
	var day *Day
	var seen map[string]struct{} // ids of the current day
	var batch []*sink.Event
	lastObject, lastReport := "", int64(0)
	err = r.Events(ctx, cfg.Subject, cfg.Since, cfg.Until, func(rec *archive.Record) error {
		if rec.Object != lastObject {
			lastObject = rec.Object
			res.Objects++
		}
		res.Rows++
		// Objects come in partition order, so days do too: one day's ids
		// are held at a time. A copy of an event has its event time, so
		// its day.
		d := rec.EventTime.UTC().Truncate(24 * time.Hour)
		if day == nil || !d.Equal(day.Day) {
			if days[d] == nil {
				days[d] = &Day{Day: d}
				order = append(order, d)
			}
			day, seen = days[d], map[string]struct{}{}
		}
		day.Rows++
		if cfg.Progress != nil && res.Rows-lastReport >= cfg.ProgressEvery {
			lastReport = res.Rows
			cfg.Progress(Progress{Objects: res.Objects, ObjectsTotal: len(objects), Rows: res.Rows})
		}
		if _, ok := seen[rec.EventID]; ok {
			return nil // a copy: the first stays
		}
		seen[rec.EventID] = struct{}{}
		day.Archive.Add(rec.EventID)
		res.Loaded++
		batch = append(batch, &sink.Event{ID: rec.EventID, Schema: rec.Schema, Payload: rec.Payload, Message: rec.Message,
			EventTime: rec.EventTime, ReceivedAt: rec.ReceivedAt, PublishedAt: rec.PublishedAt, Producer: rec.Producer, Attributes: rec.Attributes})
		if len(batch) >= cfg.BatchSize {
			err := target.Write(ctx, batch)
			batch = batch[:0]
			return err
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = target.Write(ctx, batch)
	}
	if err != nil {
		if a, ok := target.(aborter); ok {
			a.Abort(err)
		}
		return nil, fmt.Errorf("restore: %w", err)
	}
	if cfg.Progress != nil {
		cfg.Progress(Progress{Objects: res.Objects, ObjectsTotal: len(objects), Rows: res.Rows})
	}
	sums, err := target.Finish(ctx, cfg.Since, cfg.Until)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	for d := range sums {
		if days[d] == nil {
			days[d] = &Day{Day: d}
			order = append(order, d)
		}
	}
	slices.SortFunc(order, func(a, b time.Time) int { return a.Compare(b) })
	var bad []string
	for _, d := range order {
		day := days[d]
		day.Table = sums[d]
		res.Days = append(res.Days, *day)
		if day.Table != day.Archive {
			bad = append(bad, fmt.Sprintf("%s: archive %v, table %v", d.Format(time.DateOnly), day.Archive, day.Table))
		}
	}
	res.Elapsed = time.Since(begin)
	if len(bad) > 0 {
		return res, fmt.Errorf("%w: %s", ErrMismatch, strings.Join(bad, "; "))
	}
	return res, nil
}
