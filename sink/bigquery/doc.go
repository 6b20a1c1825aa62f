// Package bigquery is hem's BigQuery sink: events become rows of one table
// per event type, written through the Storage Write API's default stream.
//
// Rows. Each table version has a derived row message (RowSchema): the
// table's columns as a proto2 message whose field types are the ones the
// Write API documents for each column type (docs/EVOLUTION.md, "Values"), sent
// with its normalized descriptor. Payloads are transcoded from their wire
// bytes straight into row bytes by a plan built once per (payload version,
// table version) pair, so no message is materialized per event; the sink
// is a sink.PayloadSink, so the processor does not decode them either.
//
// Tables. Migrate creates a table from the shared mapping (day partitions,
// clustering, descriptions) or appends the columns a new version adds, with
// an ETag-conditional patch retried on conflicts, and keeps a <table>_dedup
// view with one row per _event_id (the default stream is at-least-once).
// The view numbers rows within (partition column, _event_id): duplicates
// share the partition column, and BigQuery pushes a filter on it below the
// window, so queries through the view prune partitions (VERIFY.md says how
// to check that on BigQuery). A contract with an entity key also gets
// <table>_latest, the latest row of each key (by _event_time, then
// _received_at, then _event_id): a file source's corrected re-export shows
// there. Its window is by the key alone, so a key filter reaches the table
// and a partition filter does not. A server that sends no ETag gets an
// unconditional patch; the sink warns (Config.Logger) and reads the table
// again to check the columns stayed. The registry runs Migrate before a
// version is usable; Write runs it too, so a processor never depends on
// that.
//
// Evolution. BigQuery takes minutes to show new columns to the Write API.
// Before rows use a version's row schema, the sink checks that the Write
// API's schema of the table (GetWriteStream, FULL view) has every column
// of it: BigQuery refuses unknown fields, but a compatible server may drop
// them, and hem does not rely on the refusal. Until the columns are
// visible, rows of older versions keep flowing and rows of the new version
// fail with a retryable error (the processor redelivers them); the sink
// asks again after Config.SchemaRetryInterval. Nothing is dropped.
//
// Limits. Requests stay under Config.MaxRequestBytes (BigQuery refuses
// requests over 10 MB). A request the server refuses as too large is sent
// again in halves, down to a single row; a row refused alone fails for
// good, alone. A row BigQuery refuses fails for good; the others of its
// request are retried.
//
// Outages. The Storage Write client library reconnects for ever and says
// nothing while it does. The sink watches its gRPC calls: once the Write
// API has been unreachable for about two seconds, writes fail with a
// retryable ErrUnavailable (the processor nacks, logs and counts them) and
// Health reports it; a write with no answer fails after
// Config.WriteTimeout. Close does not wait for BigQuery. What was not
// answered was not acked, and comes back.
//
// Multiplexing. Streams of all tables share Config.Connections connections,
// as Google's BigQuery allows. Config.DisableMultiplexing gives each stream
// its own connection, for servers that read a connection's requests with
// its first writer schema.
//
// Endpoints. Config.Endpoint and Config.WriteEndpoint point the sink at any
// BigQuery-API-compatible server; the tests use the protocol-level fake in
// sink/bigquery/bigquerytest.
package bigquery
