package duckdb

import (
	"context"
	"fmt"
	"time"

	"github.com/hemlabs/hem/contract"
)

// Expire deletes the rows of t older than its partition expiration, as
// BigQuery's partition expiration would have at now (DuckDB has none), and
// returns how many it deleted. A table without expiration, or one not
// created yet, is left alone. hem dev calls it periodically, so the local
// warehouse keeps what the contract says BigQuery keeps: replays and
// queries behave alike on both.
func (w *Warehouse) Expire(ctx context.Context, t *contract.Table, now time.Time) (int64, error) {
	before := contract.Retention{WarehouseDays: t.PartitionExpirationDays}.WarehouseExpiredBefore(now)
	if before.IsZero() {
		return 0, nil
	}
	live, err := w.liveColumns(ctx, t.Name)
	if err != nil || len(live) == 0 {
		return 0, err
	}
	var n int64
	err = w.write(ctx, func() error {
		res, err := w.db.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s < ?", ident(t.Name), ident(t.PartitionColumn)), before)
		if err != nil {
			return fmt.Errorf("duckdb: expire %s: %w", t.Name, err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// CountBefore counts the rows of t whose partition column is before
// before (registry.ExpiryCounter: the preview of a shortened retention).
func (w *Warehouse) CountBefore(ctx context.Context, t *contract.Table, before time.Time) (int64, error) {
	live, err := w.liveColumns(ctx, t.Name)
	if err != nil || len(live) == 0 {
		return 0, err
	}
	var n int64
	q := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s < ?", ident(t.Name), ident(t.PartitionColumn))
	if err := w.db.QueryRowContext(ctx, q, before).Scan(&n); err != nil {
		return 0, fmt.Errorf("duckdb: count %s: %w", t.Name, err)
	}
	return n, nil
}

// String names the warehouse in previews.
func (w *Warehouse) String() string { return "the DuckDB warehouse" }
