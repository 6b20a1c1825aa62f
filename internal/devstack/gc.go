package devstack

import (
	"os"
	"runtime/debug"
)

// The garbage collector settings of "hem dev". The process carries the
// whole pipeline, whose garbage is mostly short-lived (requests, decoded
// events, row values): with Go's default GOGC=100 it spends about a fifth
// of its CPU collecting under load. A higher GOGC collects less often; the
// memory limit keeps the heap bounded whatever GOGC allows (the collector
// works harder as the heap nears it). DuckDB's memory (capped separately,
// see openSinks) is not part of the Go heap.
const (
	DefaultGCPercent   = 400
	DefaultMemoryLimit = 2 << 30
)

// tuneGC applies the settings unless GOGC or GOMEMLIMIT say otherwise. A
// negative value leaves that setting alone.
func tuneGC(percent int, limit int64) {
	if _, ok := os.LookupEnv("GOGC"); !ok && percent > 0 {
		debug.SetGCPercent(percent)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok && limit > 0 {
		debug.SetMemoryLimit(limit)
	}
}
