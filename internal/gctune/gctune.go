// Package gctune sets the Go garbage collector of hem's request-serving
// processes. Their garbage is mostly short-lived (requests, decoded events)
// and their live heap is small, so with Go's default GOGC=100 the collector
// runs many times a second: "hem collector serve" handles a sixth more
// events per CPU-second with GOGC=400, "hem dev" a fifth, and a file
// source's load takes a fifth fewer CPU-seconds. A higher GOGC collects
// less often; a memory limit keeps the heap bounded whatever GOGC
// allows (the GC works harder as the heap nears it). The processor keeps
// the defaults: its live heap is its pulled batches (up to
// --max-outstanding-bytes), and GOGC=400 measured no faster there.
package gctune

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Settings are the garbage collector's knobs. Zero leaves a knob as the
// runtime has it.
type Settings struct {
	// Percent is GOGC: the heap grows by this percentage of the live heap
	// before the next collection.
	Percent int
	// MemoryLimit is GOMEMLIMIT in bytes, a soft limit on the Go heap.
	MemoryLimit int64
}

// Collector is what "hem collector serve" runs with: GOGC=400, and a
// memory limit of three quarters of the container's memory when the
// process has one (cgroup v2), so a larger GOGC cannot push it into the
// OOM killer.
func Collector() Settings {
	return Settings{Percent: 400, MemoryLimit: ContainerMemory() / 4 * 3}
}

// Loader is what "hem source run" and "hem load" run with: GOGC=400, as
// the collector (a load's live heap is a few batches of records, bounded
// whatever the file's size; its garbage is the records it maps, checks and
// spills), and in a container with a memory limit, GOMEMLIMIT at three
// quarters of what reserved leaves of it: reserved is the memory the loads
// may hold outside the Go heap, their spill files (Cloud Run's temporary
// folder is memory). A container too small for that keeps the runtime's
// defaults.
func Loader(reserved int64) Settings {
	return loader(ContainerMemory(), reserved)
}

func loader(container, reserved int64) Settings {
	if container <= 0 {
		return Settings{Percent: 400}
	}
	left := container - max(reserved, 0)
	if left < 128<<20 {
		return Settings{}
	}
	return Settings{Percent: 400, MemoryLimit: left / 4 * 3}
}

// Apply applies s, except what the GOGC and GOMEMLIMIT environment
// variables already set: an operator's explicit choice wins. restore puts
// back the previous settings (benchmarks use it).
func Apply(s Settings) (restore func()) {
	s = s.withoutEnv(os.LookupEnv)
	percent, limit := -2, int64(-1) // -2: untouched (-1 is GOGC=off)
	if s.Percent > 0 {
		percent = debug.SetGCPercent(s.Percent)
	}
	if s.MemoryLimit > 0 {
		limit = debug.SetMemoryLimit(s.MemoryLimit)
	}
	return func() {
		if percent != -2 {
			debug.SetGCPercent(percent)
		}
		if limit >= 0 {
			debug.SetMemoryLimit(limit)
		}
	}
}

func (s Settings) withoutEnv(lookup func(string) (string, bool)) Settings {
	if _, ok := lookup("GOGC"); ok {
		s.Percent = 0
	}
	if _, ok := lookup("GOMEMLIMIT"); ok {
		s.MemoryLimit = 0
	}
	return s
}

// cgroupMemoryMax is where cgroup v2 keeps the container's memory limit.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// ContainerMemory is the process's cgroup v2 memory limit in bytes, or 0
// when it has none (or it cannot be read).
func ContainerMemory() int64 {
	b, err := os.ReadFile(cgroupMemoryMax)
	if err != nil {
		return 0
	}
	return parseMemoryMax(string(b))
}

// parseMemoryMax reads a memory.max file: a byte count, or "max" for none.
func parseMemoryMax(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
