// Package rollup computes rollups: tables of aggregates declared as
// contracts (contract.ParseRollup), derived from one row per event id of
// their source event type and recomputed a whole day partition at a time.
// Redeliveries, replays and late events therefore re-derive their days and
// never count twice.
//
// # A run
//
// Each run of a rollup recomputes
//
//   - every day partition holding a bucket touched by rows that arrived
//     since the last run: rows whose arrival (_published_at, else
//     _received_at) is after the stored watermark less an overlap, which
//     covers rows that were still on their way through the pipeline when
//     the last run read the watermark;
//   - every day within the rollup's allowed lateness of now;
//   - every day of the source, once, when the rollup's version changed
//     since the last run (a new measure is backfilled this way).
//
// Days older than the rollup's retention, or than the source table's
// partition expiration (whose rows are gone), are left as they are.
//
// The DuckDB engine deletes and inserts the affected buckets and moves the
// watermark in one transaction (a state table, _rollup_state). The BigQuery
// engine runs one query job per day partition with destination
// table$YYYYMMDD and WRITE_TRUNCATE, each atomic, after dry runs whose
// bytes are summed and checked against the run's budget; the watermark is
// kept in the rollup table's labels and moved after the last job, so a
// failed run is done again, whole, by the next.
//
// A Runner is safe for concurrent use, but two runs of one rollup at once
// compute the same partitions twice (harmless, wasteful): hem dev runs one
// loop, production one scheduled job.
package rollup
