package devstack

import (
	"context"
	"errors"
	"time"

	"github.com/hemlabs/hem/contract"
)

// expireEvery is how often hem dev deletes the warehouse rows that the
// contracts' partition expiration drops in BigQuery; partitions are days,
// so an hour is plenty.
const expireEvery = time.Hour

// runExpiry expires the warehouse at start and then every expireEvery,
// until ctx ends. A failed round is logged and retried on the next.
func (s *Stack) runExpiry(ctx context.Context) error {
	tick := time.NewTicker(expireEvery)
	defer tick.Stop()
	for {
		if _, err := s.expireWarehouse(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("warehouse expiry failed; retried in an hour", "service", "warehouse", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// expireWarehouse deletes, in every event type's table, the rows older
// than its newest version's partition_expiration_days (DuckDB has no
// partition expiration), and returns the rows deleted per table.
func (s *Stack) expireWarehouse(ctx context.Context, now time.Time) (map[string]int64, error) {
	if s.sinks.warehouse == nil {
		return nil, nil
	}
	subjects, err := s.reg.Subjects(ctx)
	if err != nil {
		return nil, err
	}
	deleted := map[string]int64{}
	var errs []error
	for _, info := range subjects {
		latest, err := s.reg.Latest(ctx, info.GetSubject())
		if err != nil {
			continue // no usable version yet: no table to expire
		}
		table, err := contract.MapTable(latest.Descriptor())
		if err != nil {
			continue // not an event type (a rollup's table is its own)
		}
		n, err := s.sinks.warehouse.Expire(ctx, table, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n > 0 {
			deleted[table.Name] = n
			s.log.Info("expired warehouse rows", "service", "warehouse", "table", table.Name, "rows", n,
				"partition_expiration_days", table.PartitionExpirationDays)
		}
	}
	return deleted, errors.Join(errs...)
}
