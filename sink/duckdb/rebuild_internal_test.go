//go:build linux

package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/sinktest"
)

// loadBefore is how hem wrote before it checkpointed after failed
// writes: a failed append, whatever the cause, fell through to the
// staging path at once.
func loadBefore(ctx context.Context, db *sql.DB, table string, rows [][]driver.Value) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if appendTx(ctx, conn, table, rows) == nil {
		return nil
	}
	stage := "hem_stage_" + table
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT * FROM %s LIMIT 0", ident(stage), ident(table))); err != nil {
		return err
	}
	if err := appendRows(conn, "temp", stage, rows); err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("INSERT OR IGNORE INTO %s SELECT * FROM %s", ident(table), ident(stage))); err != nil {
		return err
	}
	return tx.Commit()
}

// A warehouse an earlier hem wedged (a commit failed on a full disk, the
// same rows went straight to the staging path, the process restarted)
// refuses every retry with "Duplicate key"; the Warehouse rebuilds the
// table and stores them, once.
//
//nolint:paralleltest // it lowers the process's file size limit
func TestTableWedgedByAnEarlierHemIsRebuilt(t *testing.T) {
	src, err := contract.CompileDir(t.Context(), filepath.Join("..", "..", "proto"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema("shop.orders.v1.OrderPlaced")
	if err != nil {
		t.Fatal(err)
	}
	placed := s.WithIdentity(1, 1, contract.Usable, time.Now())
	tbl, err := contract.MapTable(placed.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	events := func(n int, prefix string) []*sink.Event {
		out := sinktest.Events(t, placed, n)
		for i, e := range out {
			e.ID = fmt.Sprintf("%s-%d", prefix, i)
		}
		return out
	}

	path := filepath.Join(t.TempDir(), "w.duckdb")
	w, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := w.ensure(t.Context(), placed, "")
	if err != nil {
		t.Fatal(err)
	}
	before := func(evs []*sink.Event) error {
		rows, _ := buildRows(tbl, cols, evs)
		return loadBefore(t.Context(), w.db, tbl.Name, rows)
	}
	for i := range 10 {
		if err := before(events(500, fmt.Sprintf("a%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	wal, err := os.Stat(path + ".wal")
	if err != nil {
		t.Fatal(err)
	}
	var unlimited syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &unlimited); err != nil {
		t.Skip(err)
	}
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Reset(syscall.SIGXFSZ)
	limited := unlimited
	limited.Cur = uint64(wal.Size()) + 4096
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limited); err != nil {
		t.Skip(err)
	}
	b := events(200, "b")
	err = before(b)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &unlimited); err != nil {
		t.Fatal(err)
	}
	if err == nil {
		t.Fatal("the write with a log that cannot grow succeeded; the fault was not injected")
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	if w, err = Open(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close(context.Background()) }()
	for attempt := range 2 {
		if err := w.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: b}); err != nil {
			t.Fatalf("attempt %d: %v", attempt+1, err)
		}
	}
	var rows, ids, comments int
	if err := w.db.QueryRowContext(t.Context(), `select count(*), count(distinct _event_id),
		(select count(comment) from duckdb_columns() where table_name = 'shop_orders_v1_order_placed')
		from shop_orders_v1_order_placed`).Scan(&rows, &ids, &comments); err != nil {
		t.Fatal(err)
	}
	if rows != 5200 || ids != 5200 || comments < 10 {
		t.Fatalf("rows %d, distinct ids %d, column comments %d; want 5200, 5200 and the comments back", rows, ids, comments)
	}
}
