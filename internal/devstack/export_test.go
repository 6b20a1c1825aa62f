package devstack

import (
	"context"
	"database/sql"
	"time"
)

// WarehouseDB is the warehouse's database, unsandboxed for writes, so a
// test can break what the processors write to.
func (s *Stack) WarehouseDB() *sql.DB { return s.sinks.warehouse.DB() }

// ExpireWarehouse runs one round of the warehouse's expiry at now.
func (s *Stack) ExpireWarehouse(ctx context.Context, now time.Time) (map[string]int64, error) {
	return s.expireWarehouse(ctx, now)
}
