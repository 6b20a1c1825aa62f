package devstack

// The garbage collector settings of "hem dev" (see package gctune): the
// process carries the whole pipeline, so it gets a fixed memory limit
// rather than a share of a container. DuckDB's memory (capped separately,
// see openSinks) is not part of the Go heap.
const (
	DefaultGCPercent   = 400
	DefaultMemoryLimit = 2 << 30
)
