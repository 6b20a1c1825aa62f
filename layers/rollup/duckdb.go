package rollup

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink/duckdb"
)

// StateTable is the DuckDB table holding each rollup's version and
// watermark.
const StateTable = "_rollup_state"

// NewDuckDB returns a Runner on the local warehouse w. The source of a
// rollup is its event table itself: DuckDB keeps one row per event id.
func NewDuckDB(w *duckdb.Warehouse, opts ...RunnerOption) *Runner {
	return newRunner(&duckEngine{w: w}, opts)
}

type duckEngine struct{ w *duckdb.Warehouse }

type duckDialect struct{}

func (duckDialect) ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (duckDialect) timestamp(t time.Time) string {
	return "TIMESTAMPTZ '" + t.UTC().Format("2006-01-02 15:04:05.999999") + "+00'"
}

// floor works on epoch microseconds, so the session's time zone (which
// date_trunc on TIMESTAMPTZ follows) plays no part.
func (duckDialect) floor(x string, size time.Duration) string {
	us := size.Microseconds()
	return fmt.Sprintf("to_timestamp((epoch_us(%s) // %d) * %d)", x, us, us/1_000_000)
}

func (duckDialect) sum(x string, t contract.Type) string {
	if t == contract.Int64 {
		return "CAST(SUM(" + x + ") AS BIGINT)" // DuckDB sums BIGINT into HUGEINT
	}
	return "SUM(" + x + ")"
}

// distinct is exact in DuckDB: the local warehouse is small, and an exact
// count keeps it equal to a GROUP BY over the events (see the README on
// BigQuery's approximation).
func (duckDialect) distinct(x string) string { return "COUNT(DISTINCT " + x + ")" }

var duck dialect = duckDialect{}

func (e *duckEngine) ensure(ctx context.Context, j *Job) error {
	if err := e.w.Migrate(ctx, j.Schema); err != nil {
		return err
	}
	return e.w.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+duck.ident(StateTable)+
			" (rollup VARCHAR PRIMARY KEY, version VARCHAR NOT NULL, watermark TIMESTAMPTZ, updated_at TIMESTAMPTZ NOT NULL)")
		return err
	})
}

func (e *duckEngine) state(ctx context.Context, j *Job) (state, error) {
	var st state
	var wm sql.NullTime
	err := e.w.DB().QueryRowContext(ctx, "SELECT version, watermark FROM "+duck.ident(StateTable)+" WHERE rollup = ?", j.Name()).Scan(&st.version, &wm)
	switch {
	case err == sql.ErrNoRows:
		return state{}, nil
	case err != nil && strings.Contains(err.Error(), "does not exist"):
		return state{}, nil // no run yet (a dry run before the first)
	case err != nil:
		return state{}, err
	}
	st.found, st.watermark = true, wm.Time.UTC()
	return st, nil
}

func (e *duckEngine) touched(ctx context.Context, j *Job, since time.Time) ([]time.Time, time.Time, int64, error) {
	rows, err := e.w.DB().QueryContext(ctx, touchedSQL(duck, j, duck.ident(j.Source.Name), since))
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	defer rows.Close()
	var days []time.Time
	var latest time.Time
	for rows.Next() {
		var d time.Time
		var arrived sql.NullTime
		if err := rows.Scan(&d, &arrived); err != nil {
			return nil, time.Time{}, 0, err
		}
		days = append(days, d.UTC())
		if arrived.Valid && arrived.Time.After(latest) {
			latest = arrived.Time.UTC()
		}
	}
	return days, latest, 0, rows.Err()
}

func (e *duckEngine) recompute(ctx context.Context, j *Job, days []time.Time, next state, opts Options, rep *Report) error {
	if len(days) == 0 && opts.DryRun {
		return nil
	}
	var q string
	if len(days) > 0 {
		q = selectSQL(duck, j, duck.ident(j.Source.Name), days[0], days[len(days)-1].AddDate(0, 0, 1), days)
	}
	if opts.DryRun {
		return e.w.DB().QueryRowContext(ctx, "SELECT count(*) FROM ("+q+")").Scan(&rep.Rows)
	}
	target := duck.ident(j.Table())
	bucket := duck.ident(j.Rollup.Bucket)
	cols := groupOrder(j)
	for i, c := range cols {
		cols[i] = duck.ident(c)
	}
	return e.w.Tx(ctx, func(tx *sql.Tx) error {
		if len(days) > 0 {
			lits := make([]string, len(days))
			for i, d := range days {
				lits[i] = duck.timestamp(d)
			}
			del := fmt.Sprintf("DELETE FROM %s WHERE %s IN (%s)", target, duck.floor(bucket, 24*time.Hour), strings.Join(lits, ", "))
			if _, err := tx.ExecContext(ctx, del); err != nil {
				return fmt.Errorf("delete the recomputed buckets: %w", err)
			}
			res, err := tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s (%s) %s", target, strings.Join(cols, ", "), q))
			if err != nil {
				return fmt.Errorf("insert the recomputed buckets: %w", err)
			}
			if rep.Rows, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		if n := j.Rollup.RetentionDays; n > 0 {
			// BigQuery expires old partitions by itself; DuckDB does as
			// the rollup's retention says here.
			cut := day(next.now).AddDate(0, 0, -n)
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s < %s", target, bucket, duck.timestamp(cut))); err != nil {
				return fmt.Errorf("expire old buckets: %w", err)
			}
		}
		var wm any
		if !next.watermark.IsZero() {
			wm = next.watermark
		}
		_, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO "+duck.ident(StateTable)+" VALUES (?, ?, ?, ?)", j.Name(), next.version, wm, next.now)
		if err != nil {
			return fmt.Errorf("store the watermark: %w", err)
		}
		return nil
	})
}
