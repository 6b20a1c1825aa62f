// Package source loads file sources: exports dropped into a bucket (CSV,
// NDJSON, JSON, Parquet; gzip, zstd, zip, tar.gz), declared in sources/*.yaml,
// mapped onto a contract with CEL and handed to the collector's per-event
// core, each object exactly once.
//
// The parts: source/spec reads the declarations, source/read turns an object
// into records, source/mapping turns a record into a contract message,
// source/ledger records every object loaded, and Loader runs them.
package source
