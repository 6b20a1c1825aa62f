package duckdb

import (
	"context"
	"database/sql"
	"fmt"
)

// Tx runs f in one transaction and commits it when f returns nil, under the
// warehouse's write discipline (after a failed write, a checkpoint first).
// Layers that derive tables from hem's (rollups) write through it; f must
// neither commit nor roll back.
func (w *Warehouse) Tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	return w.write(ctx, func() error {
		tx, err := w.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("duckdb: begin: %w", err)
		}
		defer func() { _ = tx.Rollback() }() // a no-op after Commit
		if err := f(tx); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("duckdb: commit: %w", err)
		}
		return nil
	})
}
