// Package console is hem's web console: contracts and their history, live
// rates, failed events with replay, finding an event, SQL, and the file
// sources' ledger and the archive. It renders pages on the server from the
// Go binary (no build step, no frontend dependencies) and reads hem's own
// typed stores through the small interfaces in deps.go; it never scans a
// topic. hem dev serves it at /ui/ on its HTTP port, hem console serve in
// production; internal/wiring builds it for both.
package console
