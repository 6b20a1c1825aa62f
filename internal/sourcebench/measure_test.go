package sourcebench_test

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// usage is what one phase of a benchmark took.
type usage struct {
	wall time.Duration
	cpu  time.Duration // user + system, every thread of the process
	// start is the process's CPU time (cpuTime) when the phase began.
	start time.Duration
	// peak is the process's peak resident set during the phase (VmHWM
	// after resetting it), 0 where /proc does not tell.
	peak int64
}

// measure runs f and reports its wall and CPU time and the process's peak
// RSS while it ran.
func measure(f func() error) (usage, error) {
	resetPeakRSS()
	c0 := cpuTime()
	t0 := time.Now()
	err := f()
	return usage{wall: time.Since(t0), cpu: cpuTime() - c0, start: c0, peak: peakRSS()}, err
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS sets VmHWM back to the current RSS (Linux 4.0+), so the next
// peakRSS is this phase's.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is VmHWM of /proc/self/status in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if v, ok := bytes.CutPrefix(s.Bytes(), []byte("VmHWM:")); ok {
			kb, _ := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			return kb << 10
		}
	}
	return 0
}
