package restore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/layers/verify"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/duckdb"
)

// RestoresTable lists a DuckDB warehouse's restore tables and when each
// expires (DuckDB tables have no expiration of their own).
const RestoresTable = "_hem_restores"

const createRestores = `CREATE TABLE IF NOT EXISTS ` + RestoresTable + ` (
  table_name VARCHAR PRIMARY KEY, subject VARCHAR, since TIMESTAMPTZ, until TIMESTAMPTZ,
  created_at TIMESTAMPTZ, expires_at TIMESTAMPTZ)`

// DuckDB is a restore into a local warehouse. It drops the warehouse's
// expired restore tables before it creates its own.
type DuckDB struct {
	w       *duckdb.Warehouse
	now     func() time.Time
	subject string
	since   time.Time
	until   time.Time

	table string
	shape *contract.Schema
}

var _ Target = (*DuckDB)(nil)

// NewDuckDB restores subject's events of [since, until) into w; now is
// the clock of the expiry (nil: time.Now).
func NewDuckDB(w *duckdb.Warehouse, subject string, since, until time.Time, now func() time.Time) *DuckDB {
	if now == nil {
		now = time.Now
	}
	return &DuckDB{w: w, now: now, subject: subject, since: since, until: until}
}

// Begin implements Target: an existing restore table of that name is
// replaced. When the warehouse has source, the restore table takes its
// columns, so it reads like source.
func (d *DuckDB) Begin(ctx context.Context, table, source string, shape *contract.Schema, expires time.Time) error {
	db := d.w.DB()
	if _, err := DropExpired(ctx, d.w, d.now()); err != nil {
		return err
	}
	if err := dropRestore(ctx, d.w, table); err != nil {
		return err
	}
	has, err := baseTable(ctx, db, source)
	if err != nil {
		return err
	}
	if has {
		stmts := []string{
			fmt.Sprintf("CREATE TABLE %s AS SELECT * FROM %s LIMIT 0", ident(table), ident(source)),
			fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (%s)", ident(table), ident(contract.ColEventID)),
		}
		for _, q := range stmts {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("duckdb: create %s: %w", table, err)
			}
		}
	}
	if err := d.w.WriteTable(ctx, table, shape, &sink.Batch{Subject: d.subject}); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, createRestores); err != nil {
		return fmt.Errorf("duckdb: %w", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT OR REPLACE INTO `+RestoresTable+` VALUES (?, ?, ?, ?, ?, ?)`,
		table, d.subject, d.since.UTC(), d.until.UTC(), d.now().UTC(), expires.UTC()); err != nil {
		return fmt.Errorf("duckdb: record the expiry of %s: %w", table, err)
	}
	d.table, d.shape = table, shape
	return nil
}

// Write implements Target.
func (d *DuckDB) Write(ctx context.Context, events []*sink.Event) error {
	err := d.w.WriteTable(ctx, d.table, d.shape, &sink.Batch{Subject: d.subject, Events: events})
	var be *sink.BatchError
	if errors.As(err, &be) {
		for i, e := range be.Failed {
			return fmt.Errorf("event %s: %w", events[i].ID, e)
		}
	}
	return err
}

// Finish implements Target: each write committed already.
func (d *DuckDB) Finish(ctx context.Context, since, until time.Time) (map[time.Time]verify.Sum, error) {
	return verify.DuckDBSums(ctx, d.w, d.table, since, until)
}

// DropExpired drops the restore tables of a DuckDB warehouse whose expiry
// is at or before now, and returns their names.
func DropExpired(ctx context.Context, w *duckdb.Warehouse, now time.Time) ([]string, error) {
	db := w.DB()
	has, err := baseTable(ctx, db, RestoresTable)
	if err != nil || !has {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM `+RestoresTable+` WHERE expires_at <= ? ORDER BY table_name`, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("duckdb: expired restores: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if err := dropRestore(ctx, w, n); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// dropRestore drops a restore table (with its latest view and column
// descriptions), then its expiry: a restore table is never left without
// one.
func dropRestore(ctx context.Context, w *duckdb.Warehouse, table string) error {
	if err := w.DropTable(ctx, table); err != nil {
		return err
	}
	has, err := baseTable(ctx, w.DB(), RestoresTable)
	if err != nil || !has {
		return err
	}
	if _, err := w.DB().ExecContext(ctx, "DELETE FROM "+RestoresTable+" WHERE table_name = ?", table); err != nil {
		return fmt.Errorf("duckdb: drop %s: %w", table, err)
	}
	return nil
}

func baseTable(ctx context.Context, db *sql.DB, table string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = 'main' AND table_name = ? AND table_type = 'BASE TABLE'`, table).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("duckdb: %w", err)
	}
	return n > 0, nil
}

func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
