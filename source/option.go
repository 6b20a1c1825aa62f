package source

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/hemlabs/hem/source/read"
)

// Option configures a Loader.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	owner           string
	lease           time.Duration
	workers         int
	batchSize       int
	inFlight        int
	checkpointEvery time.Duration
	checkpointN     int64
	// checkpointGap is the least time between two writes of the
	// checkpoint for a count: GCS takes about one write per second of
	// one object.
	checkpointGap time.Duration
	maxAttempts   int32
	minBackoff    time.Duration
	maxBackoff    time.Duration
	limits        read.Limits
	logger        *slog.Logger
	spillDir      string
	spillMax      int64
}

// WithOwner names the loader in the ledger's entries it holds. Default: the
// host name, the process id and a random suffix, unique per Loader.
func WithOwner(owner string) Option { return optionFunc(func(c *config) { c.owner = owner }) }

// WithLease is how long an entry stays the loader's without an update: a
// loader that dies leaves its objects to others once it ends. Default 1
// minute; it must exceed the checkpoint period, which renews it.
func WithLease(d time.Duration) Option { return optionFunc(func(c *config) { c.lease = d }) }

// WithWorkers is how many records are mapped (and checked) at once.
// Default runtime.GOMAXPROCS(0).
func WithWorkers(n int) Option { return optionFunc(func(c *config) { c.workers = n }) }

// WithBatchSize is how many records go to the core in one call. Default 500.
func WithBatchSize(n int) Option { return optionFunc(func(c *config) { c.batchSize = n }) }

// WithInFlight is how many batches may await Pub/Sub's confirmation at
// once. Default 4.
func WithInFlight(n int) Option { return optionFunc(func(c *config) { c.inFlight = n }) }

// WithCheckpoint is how often the checkpoint is written to the ledger (and
// the lease renewed): every period, and every n records confirmed. Default
// 5 seconds and 100,000 records.
func WithCheckpoint(period time.Duration, n int64) Option {
	return optionFunc(func(c *config) { c.checkpointEvery, c.checkpointN = period, n })
}

// WithMaxAttempts fails an object for good on its n-th attempt (a takeover
// counts one), so an object that kills its loaders does not come back
// forever. Default 10.
func WithMaxAttempts(n int) Option {
	return optionFunc(func(c *config) { c.maxAttempts = int32(min(n, 1<<30)) })
}

// WithBackoff is the wait before a batch the core answered RETRY (or
// refused) is sent again: min, doubling up to max. Default 100ms to 10s.
func WithBackoff(minWait, maxWait time.Duration) Option {
	return optionFunc(func(c *config) { c.minBackoff, c.maxBackoff = minWait, maxWait })
}

// WithLimits are the reader's limits (read.Limits' zero fields take their
// defaults).
func WithLimits(lim read.Limits) Option { return optionFunc(func(c *config) { c.limits = lim }) }

// WithSpill is where pass 1 keeps what it made of an object's records, so
// that pass 2 publishes them without reading and mapping the object a
// second time: a temporary file in dir ("" is os.TempDir()), deleted when
// the load ends (at once on Linux, even if the process is killed), of at
// most maxBytes; a larger object's pass 2 reads the object again. maxBytes
// 0 turns spilling off. Default: os.TempDir(), 4 GiB. Where the temporary
// directory is memory (Cloud Run's), the spill counts against the
// instance's memory: point dir at a disk or lower maxBytes.
func WithSpill(dir string, maxBytes int64) Option {
	return optionFunc(func(c *config) { c.spillDir, c.spillMax = dir, maxBytes })
}

// WithLogger logs the loader's retries and checkpoints; nil (the default)
// logs nothing.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

func newConfig(opts []Option) (config, error) {
	c := config{
		lease:           time.Minute,
		workers:         runtime.GOMAXPROCS(0),
		batchSize:       500,
		inFlight:        4,
		checkpointEvery: 5 * time.Second,
		checkpointN:     100_000,
		checkpointGap:   time.Second,
		maxAttempts:     10,
		minBackoff:      100 * time.Millisecond,
		maxBackoff:      10 * time.Second,
		spillMax:        4 << 30,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	if c.owner == "" {
		c.owner = defaultOwner()
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c, c.validate()
}

func (c *config) validate() error {
	var errs []error
	if c.workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d: at least 1", c.workers))
	}
	if c.batchSize < 1 {
		errs = append(errs, fmt.Errorf("batch size %d: at least 1", c.batchSize))
	}
	if c.inFlight < 1 {
		errs = append(errs, fmt.Errorf("in flight %d: at least 1", c.inFlight))
	}
	if c.checkpointEvery <= 0 || c.checkpointN < 1 {
		errs = append(errs, fmt.Errorf("checkpoint every %v or %d records: both must be positive", c.checkpointEvery, c.checkpointN))
	}
	if c.lease <= c.checkpointEvery {
		errs = append(errs, fmt.Errorf("lease %v: must exceed the checkpoint period %v, which renews it", c.lease, c.checkpointEvery))
	}
	if c.maxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max attempts %d: at least 1", c.maxAttempts))
	}
	if c.minBackoff <= 0 || c.maxBackoff < c.minBackoff {
		errs = append(errs, fmt.Errorf("backoff %v to %v: positive, min <= max", c.minBackoff, c.maxBackoff))
	}
	if c.spillMax < 0 {
		errs = append(errs, fmt.Errorf("spill cap %d bytes: 0 (off) or more", c.spillMax))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	return nil
}

func defaultOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
