package rollup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Options tune one run.
type Options struct {
	// DryRun plans the run and reports what it would recompute (and, on
	// BigQuery, the bytes it would scan) without writing.
	DryRun bool
	// MaxBytes refuses a BigQuery run whose dry runs add up to more bytes
	// than this, before any job runs; zero sets no budget. Each job is also
	// sent with it as its maximum bytes billed.
	MaxBytes int64
}

// Report says what a run of one rollup did (or, dry, would do).
type Report struct {
	Rollup string
	Table  string
	// Backfill is true when every day of the source was recomputed: the
	// rollup's version is new to the table.
	Backfill bool
	// Days are the day partitions recomputed, oldest first.
	Days []time.Time
	// Rows is how many rollup rows the recomputed days hold now.
	Rows int64
	// BytesEstimated is the bytes the dry runs said the run scans
	// (BigQuery; DuckDB scans its local file and reports none);
	// BytesProcessed the bytes the jobs did scan.
	BytesEstimated int64
	BytesProcessed int64
	// Watermark is the latest arrival the run has seen.
	Watermark time.Time
	DryRun    bool
}

// ErrOverBudget is returned when a BigQuery run would scan more than its
// Options.MaxBytes.
var ErrOverBudget = errors.New("over the bytes budget")

// state is what the warehouse remembers of a rollup between runs.
type state struct {
	found     bool
	version   string
	watermark time.Time
	// now is the run's clock reading (set on the state a run stores).
	now time.Time
}

// engine runs a rollup's queries in one warehouse.
type engine interface {
	// ensure creates or widens the rollup table.
	ensure(ctx context.Context, j *Job) error
	state(ctx context.Context, j *Job) (state, error)
	// touched lists the days holding buckets of rows that arrived after
	// since (all days when since is zero) and the latest arrival among
	// them, and the bytes that listing scanned.
	touched(ctx context.Context, j *Job, since time.Time) (days []time.Time, latest time.Time, bytes int64, err error)
	// recompute replaces days of the rollup table and stores the state;
	// dry, it only fills the report's estimates.
	recompute(ctx context.Context, j *Job, days []time.Time, st state, opts Options, rep *Report) error
}

// Runner runs rollups on one warehouse.
type Runner struct {
	eng     engine
	overlap time.Duration
	now     func() time.Time
}

// RunnerOption configures a Runner.
type RunnerOption interface{ apply(*Runner) }

type runnerOptionFunc func(*Runner)

func (f runnerOptionFunc) apply(r *Runner) { f(r) }

// WithOverlap sets how far before the stored watermark a run looks for
// arrivals (default one hour): rows published before the last run read its
// watermark but written to the warehouse after it.
func WithOverlap(d time.Duration) RunnerOption {
	return runnerOptionFunc(func(r *Runner) { r.overlap = d })
}

// WithClock sets the clock that places the lateness window and the
// retention cutoffs.
func WithClock(now func() time.Time) RunnerOption {
	return runnerOptionFunc(func(r *Runner) { r.now = now })
}

func newRunner(e engine, opts []RunnerOption) *Runner {
	r := &Runner{eng: e, overlap: time.Hour, now: time.Now}
	for _, o := range opts {
		o.apply(r)
	}
	return r
}

// Run recomputes the partitions of j that need it (see the package doc).
func (r *Runner) Run(ctx context.Context, j *Job, opts Options) (*Report, error) {
	rep := &Report{Rollup: j.Name(), Table: j.Table(), DryRun: opts.DryRun}
	if !opts.DryRun {
		if err := r.eng.ensure(ctx, j); err != nil {
			return nil, fmt.Errorf("rollup %s: %w", j.Name(), err)
		}
	}
	st, err := r.eng.state(ctx, j)
	if err != nil {
		return nil, fmt.Errorf("rollup %s: read state: %w", j.Name(), err)
	}
	var since time.Time
	if st.found && st.version == j.version() {
		since = st.watermark.Add(-r.overlap)
		if st.watermark.IsZero() {
			since = time.Time{}
		}
	}
	rep.Backfill = since.IsZero()
	days, latest, scanned, err := r.eng.touched(ctx, j, since)
	if err != nil {
		return nil, fmt.Errorf("rollup %s: find the touched partitions: %w", j.Name(), err)
	}
	rep.BytesProcessed += scanned
	rep.Watermark = st.watermark
	if latest.After(rep.Watermark) {
		rep.Watermark = latest
	}
	now := r.now().UTC()
	for d := day(now.Add(-j.Rollup.AllowedLateness)); !d.After(day(now)); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	rep.Days = r.keep(j, days, now)
	next := state{found: true, version: j.version(), watermark: rep.Watermark, now: now}
	if err := r.eng.recompute(ctx, j, rep.Days, next, opts, rep); err != nil {
		return rep, fmt.Errorf("rollup %s: %w", j.Name(), err)
	}
	return rep, nil
}

// keep sorts days, drops duplicates, and drops days older than the
// rollup's retention or the source's (whose rows are gone: recomputing
// such a day would empty it).
func (r *Runner) keep(j *Job, days []time.Time, now time.Time) []time.Time {
	var cutoff time.Time
	if n := j.Rollup.RetentionDays; n > 0 {
		cutoff = day(now).AddDate(0, 0, -n)
	}
	if n := j.Source.PartitionExpirationDays; n > 0 {
		// The source expires by its own partition column; a day still
		// partly there is not recomputed either.
		if c := day(now).AddDate(0, 0, -n+1); c.After(cutoff) {
			cutoff = c
		}
	}
	out := days[:0]
	for _, d := range days {
		if !d.Before(cutoff) {
			out = append(out, day(d))
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
}
