// Package bigquery is hem's BigQuery sink: events become rows of one table
// per event type, written through the Storage Write API's default stream.
//
// Rows. Each table version has a derived row message (RowSchema): the
// table's columns as a proto2 message whose field types are the ones the
// Write API documents for each column type (EVOLUTION.md section 7), sent
// with its normalized descriptor. Payloads are transcoded from their wire
// bytes straight into row bytes by a plan built once per (payload version,
// table version) pair, so no message is materialized per event; the sink
// is a processor.PayloadSink, so the processor does not decode them either.
//
// Tables. Migrate creates a table from the shared mapping (day partitions,
// clustering, descriptions) or appends the columns a new version adds, with
// an ETag-conditional patch retried on conflicts, and keeps a <table>_dedup
// view with one row per _event_id (the default stream is at-least-once).
// The registry runs it before a version is usable; Write runs it too, so a
// processor never depends on that.
//
// Evolution. BigQuery takes minutes to show new columns to the Write API.
// Until it does, rows of older versions keep flowing and rows of the new
// version fail with a retryable error (the processor redelivers them); the
// sink asks again after Config.SchemaRetryInterval. Nothing is dropped.
//
// Limits. Requests stay under Config.MaxRequestBytes (BigQuery refuses
// requests over 10 MB); a row that alone exceeds it fails for good, alone.
// A row BigQuery refuses fails for good; the others of its request are
// retried.
//
// Endpoints. Config.Endpoint and Config.WriteEndpoint point the sink at any
// BigQuery-API-compatible server; the tests use the protocol-level fake in
// sink/bigquery/bigquerytest.
package bigquery
