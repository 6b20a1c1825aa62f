package duckdb

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/hemlabs/hem/sink"
)

// A failed event's row id is its Pub/Sub message id, so a redelivered
// FailedEvent is skipped as any event is. One failure can also come as two
// messages: a producer sends a rejected event again after a crash cut off
// its answer, and the collector rejects it again. _failed_events keeps one
// row per failure: the first row of each event id, stage, reason and
// original bytes (sink.FailureKey). Those four columns are compared with
// the stored rows at each write; failed events are few, and the table is
// read only where the event ids match.

// firstOfEachFailure returns the index of the first event of each failure
// in events, in order.
func firstOfEachFailure(events []*sink.Event) []int {
	seen := make(map[string]bool, len(events))
	keep := make([]int, 0, len(events))
	for i, e := range events {
		k := sink.FailureKey(e.Payload)
		if k == "" {
			k = "id:" + e.ID // nothing tells this failure from another: its message
		} else {
			k = "failure:" + k
		}
		if !seen[k] {
			seen[k] = true
			keep = append(keep, i)
		}
	}
	return keep
}

// loadFailures makes rows of failed events durable in table, in one
// transaction, skipping those whose message or failure is stored already.
func (w *Warehouse) loadFailures(ctx context.Context, table string, rows [][]driver.Value) error {
	return w.write(ctx, func() error {
		conn, err := w.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("duckdb: %w", err)
		}
		defer conn.Close()
		stage := "hem_stage_" + table
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT * FROM %s LIMIT 0", ident(stage), ident(table))); err != nil {
			return fmt.Errorf("duckdb: stage %s: %w", table, err)
		}
		defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+ident(stage)) }()
		if err := appendRows(conn, "temp", stage, rows); err != nil {
			return fmt.Errorf("duckdb: stage %s: %w", table, err)
		}
		// A failure with neither an event id nor original bytes has no
		// identity but its message id.
		q := fmt.Sprintf(`INSERT OR IGNORE INTO %[1]s SELECT * FROM %[2]s s
			WHERE (coalesce(s.event_id, '') = '' AND coalesce(octet_length(s.original), 0) = 0)
			OR NOT EXISTS (SELECT 1 FROM %[1]s t WHERE t.event_id = s.event_id AND t.stage IS NOT DISTINCT FROM s.stage
				AND t.reason IS NOT DISTINCT FROM s.reason AND coalesce(t.original, ''::BLOB) = coalesce(s.original, ''::BLOB))`,
			ident(table), ident(stage))
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("duckdb: %w", err)
		}
		if _, err := tx.ExecContext(ctx, q); err != nil {
			_ = tx.Rollback()
			if isConstraint(err) {
				return indexError{err}
			}
			return fmt.Errorf("duckdb: insert into %s: %w", table, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("duckdb: commit %s: %w", table, err)
		}
		return nil
	})
}
