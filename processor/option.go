package processor

import (
	"errors"
	"time"

	"github.com/hemlabs/hem/sink"
)

// Option configures a Processor.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	batchCount      int
	batchBytes      int64
	batchAge        time.Duration
	pullers         int
	pullMax         int
	maxOutstanding  int64
	maxOutstandingB int64
	maxInFlight     int
	ackDeadline     time.Duration
	minBackoff      time.Duration
	maxBackoff      time.Duration
	drainTimeout    time.Duration
	failedMode      bool
	permanent       func(error) bool
	now             func() time.Time
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		batchCount:      1000,
		batchBytes:      8 << 20,
		batchAge:        time.Second,
		pullers:         2,
		pullMax:         1000,
		maxOutstanding:  20_000,
		maxOutstandingB: 256 << 20,
		maxInFlight:     4,
		ackDeadline:     60 * time.Second,
		minBackoff:      time.Second,
		maxBackoff:      10 * time.Minute,
		drainTimeout:    30 * time.Second,
		permanent:       sink.IsPermanent,
		now:             time.Now,
	}
	for _, o := range opts {
		o.apply(c)
	}
	return c, c.validate()
}

func (c *config) validate() error {
	switch {
	case c.batchCount <= 0 || c.batchBytes <= 0 || c.batchAge <= 0:
		return errors.New("processor: batch count, bytes and age must be positive")
	case c.pullers <= 0 || c.pullMax <= 0 || c.maxInFlight <= 0:
		return errors.New("processor: pullers, pull size and max in flight must be positive")
	case c.maxOutstanding < int64(c.pullMax):
		return errors.New("processor: max outstanding messages must be at least the pull size")
	case c.ackDeadline < 10*time.Second:
		return errors.New("processor: the ack deadline must be at least 10s")
	case c.minBackoff <= 0 || c.maxBackoff < c.minBackoff || c.maxBackoff > 10*time.Minute:
		return errors.New("processor: backoff must be positive, min ≤ max ≤ 10m (Pub/Sub's longest ack deadline)")
	}
	return nil
}

// WithBatch sets when a subject's batch is written: at count events, bytes
// of payload, or age since its first event, whichever comes first. Default
// 1000 / 8 MiB / 1 s. The archive wants large batches (one Parquet object
// each), e.g. 50 000 / 64 MiB / 30 s.
func WithBatch(count int, bytes int64, age time.Duration) Option {
	return optionFunc(func(c *config) { c.batchCount, c.batchBytes, c.batchAge = count, bytes, age })
}

// WithPullers sets how many Pull calls run at once (default 2) and how many
// messages each asks for (default 1000).
func WithPullers(n, max int) Option {
	return optionFunc(func(c *config) { c.pullers, c.pullMax = n, max })
}

// WithMaxOutstanding bounds the messages and bytes pulled but not yet acked
// or nacked (default 20 000 / 256 MiB); pulling waits when either is
// reached.
func WithMaxOutstanding(messages, bytes int64) Option {
	return optionFunc(func(c *config) { c.maxOutstanding, c.maxOutstandingB = messages, bytes })
}

// WithMaxInFlight bounds concurrent sink writes (default 4); one subject
// has at most one write in flight.
func WithMaxInFlight(n int) Option { return optionFunc(func(c *config) { c.maxInFlight = n }) }

// WithAckDeadline is the subscription's ack deadline (default 60 s): held
// messages are extended every third of it.
func WithAckDeadline(d time.Duration) Option {
	return optionFunc(func(c *config) { c.ackDeadline = d })
}

// WithBackoff sets the redelivery delay after a transient failure: min for
// the first attempt, doubling up to max (default 1 s to 10 min).
func WithBackoff(min, max time.Duration) Option {
	return optionFunc(func(c *config) { c.minBackoff, c.maxBackoff = min, max })
}

// WithDrainTimeout bounds how long Run writes pending batches after its
// context ends (default 30 s).
func WithDrainTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.drainTimeout = d })
}

// WithFailedMode reads hem.event.v1.FailedEvent messages (the hem-failed
// topic) instead of events.
func WithFailedMode() Option { return optionFunc(func(c *config) { c.failedMode = true }) }

// WithPermanentError classifies errors from the schema source and the
// sink: true means retrying cannot help, e.g. the registry answered that a
// schema id does not exist. Default: sink.IsPermanent.
func WithPermanentError(f func(error) bool) Option {
	return optionFunc(func(c *config) {
		c.permanent = func(err error) bool { return sink.IsPermanent(err) || f(err) }
	})
}

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return optionFunc(func(c *config) { c.now = now }) }
