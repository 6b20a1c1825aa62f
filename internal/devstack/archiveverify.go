package devstack

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/hemlabs/hem/layers/restore"
	"github.com/hemlabs/hem/layers/verify"
	"github.com/hemlabs/hem/sink/archive"
)

// DefaultArchiveVerifyInterval is how often hem dev runs archive verify.
const DefaultArchiveVerifyInterval = 15 * time.Minute

// archiveVerifyDays is how far back hem dev's verify looks.
const archiveVerifyDays = 7

// dropExpiredRestores drops the warehouse's restore tables past their
// expiry (DuckDB tables do not expire by themselves; hem restore records
// when they should).
func (s *Stack) dropExpiredRestores(ctx context.Context) {
	dropped, err := restore.DropExpired(ctx, s.sinks.warehouse, time.Now())
	if err != nil {
		s.log.Warn("dropping expired restore tables failed", "err", err)
		return
	}
	for _, t := range dropped {
		s.log.Info("restore table expired, dropped", "table", t)
	}
}

// runArchiveVerify is hem archive verify inside hem dev, when it runs both
// the archive and the duckdb sink: every interval (the first an interval
// after the start), over the last week up to an hour ago. Its result is on
// /metrics: hem_archive_verify_gaps per type (0 when the type has none) and
// the time of the last run; a gap is logged as in production. It also
// drops expired restore tables each time.
func (s *Stack) runArchiveVerify(ctx context.Context, interval time.Duration) error {
	if interval < 0 || !slices.Contains(s.cfg.Sinks, "archive") || !slices.Contains(s.cfg.Sinks, "duckdb") {
		return nil
	}
	if interval == 0 {
		interval = DefaultArchiveVerifyInterval
	}
	m := s.metrics.provider.Meter("github.com/hemlabs/hem/internal/devstack")
	gaps, err := m.Int64Gauge("hem.archive.verify.gaps", metric.WithUnit("{gap}"),
		metric.WithDescription("Days of the last week whose event ids differ between the archive and the warehouse, per type, at the last hem archive verify."))
	if err != nil {
		return err
	}
	last, err := m.Int64Gauge("hem.archive.verify.last_run", metric.WithUnit("s"),
		metric.WithDescription("Unix time of the last hem archive verify."))
	if err != nil {
		return err
	}
	reader := archive.NewReader(s.gcsClient, ArchiveBucket, "events/")
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s.dropExpiredRestores(ctx)
		now := time.Now()
		rep, err := verify.Run(ctx, reader, verify.DuckDB(s.sinks.warehouse), verify.Config{
			Since: now.AddDate(0, 0, -archiveVerifyDays), Until: now.Add(-time.Hour)})
		if err != nil && !errors.Is(err, verify.ErrGaps) {
			if ctx.Err() == nil {
				s.log.Warn("archive verify failed", "err", err)
			}
			continue
		}
		perType := map[string]int64{}
		for _, d := range rep.Days {
			perType[d.Subject] = 0 // a type without a gap reads 0
		}
		for _, g := range rep.Gaps {
			perType[g.Subject]++
			s.log.Error("archive verify gap", "type", g.Subject, "day", g.Day.Day.Format(time.DateOnly),
				"archive_ids", g.Archive.IDs, "warehouse_ids", g.Warehouse.IDs, "not_in_warehouse", g.NotInWarehouse, "not_in_archive", g.NotInArchive)
		}
		for typ, n := range perType {
			gaps.Record(ctx, n, metric.WithAttributes(attribute.String("type", typ)))
		}
		last.Record(ctx, now.Unix())
	}
}
