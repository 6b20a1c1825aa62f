// Package consolebench measures the web console's pages against a local
// warehouse of 10 million rows: its benchmark builds the rows in DuckDB
// (INSERT ... SELECT from range()), starts hem dev over them, and reports
// each page's p95 answer time. The README quotes the numbers.
//
// The package has no code of its own; it exists for its benchmark.
package consolebench
