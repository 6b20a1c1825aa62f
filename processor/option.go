package processor

import (
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

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
	maxFailing      int64
	ackDeadline     time.Duration
	minBackoff      time.Duration
	maxBackoff      time.Duration
	drainTimeout    time.Duration
	rpcTimeout      time.Duration
	failedMode      bool
	permanent       func(error) bool
	now             func() time.Time
	name            string
	meter           metric.MeterProvider
	logger          *slog.Logger
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
		maxFailing:      1000,
		ackDeadline:     60 * time.Second,
		minBackoff:      time.Second,
		maxBackoff:      10 * time.Minute,
		drainTimeout:    30 * time.Second,
		rpcTimeout:      30 * time.Second,
		permanent:       sink.IsPermanent,
		now:             time.Now,
		meter:           noop.NewMeterProvider(),
	}
	for _, o := range opts {
		o.apply(c)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
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
	case c.maxOutstandingB < 10<<20:
		return errors.New("processor: max outstanding bytes must be at least 10 MiB (Pub/Sub's largest message)")
	case c.ackDeadline < 10*time.Second || c.ackDeadline > 10*time.Minute:
		return errors.New("processor: the ack deadline must be between 10s and 10m")
	case c.minBackoff <= 0 || c.maxBackoff < c.minBackoff || c.maxBackoff > 10*time.Minute:
		return errors.New("processor: backoff must be positive, min ≤ max ≤ 10m (Pub/Sub's longest ack deadline)")
	case c.drainTimeout <= 0:
		return errors.New("processor: the drain timeout must be positive")
	case c.now == nil || c.permanent == nil || c.meter == nil:
		return errors.New("processor: nil clock, error classifier or meter provider")
	}
	return nil
}

// WithBatch sets when a subject's batch is written: at count events, bytes
// of payload, or age since its first event, whichever comes first. Default
// 1000 / 8 MiB / 1 s. The archive wants large batches (one Parquet object
// each), e.g. 50 000 / 64 MiB / 30 s. A batch is also written early when
// the processor runs out of outstanding room (WithMaxOutstanding), so a
// long age never stalls pulling.
func WithBatch(count int, bytes int64, age time.Duration) Option {
	return optionFunc(func(c *config) { c.batchCount, c.batchBytes, c.batchAge = count, bytes, age })
}

// WithPullers sets how many Pull calls run at once (default 2) and how many
// messages each asks for (default 1000, Pub/Sub's most).
func WithPullers(n, max int) Option {
	return optionFunc(func(c *config) { c.pullers, c.pullMax = n, max })
}

// WithMaxOutstanding bounds the messages and bytes pulled but not yet acked
// or nacked (default 20 000 / 256 MiB, at least 10 MiB); pulling waits when
// either is reached.
func WithMaxOutstanding(messages, bytes int64) Option {
	return optionFunc(func(c *config) { c.maxOutstanding, c.maxOutstandingB = messages, bytes })
}

// WithMaxInFlight bounds concurrent sink writes (default 4). Batches of
// different subjects are written in parallel; one subject has at most one
// write in flight, and its batches are written in the order they closed.
func WithMaxInFlight(n int) Option { return optionFunc(func(c *config) { c.maxInFlight = n }) }

// WithAckDeadline sets how long each lease extension lasts (default 60 s,
// between 10 s and 10 min). Held messages are extended before their
// deadline whatever the subscription's ack deadline is, so this only trades
// extension calls against how soon a crashed processor's messages come back.
func WithAckDeadline(d time.Duration) Option {
	return optionFunc(func(c *config) { c.ackDeadline = d })
}

// WithBackoff sets the redelivery delay after a transient failure: min for
// the first attempt, doubling up to max (default 1 s to 10 min; Pub/Sub
// cannot delay longer). The attempt is Pub/Sub's delivery attempt when the
// subscription has a dead-letter policy, else this processor's count of the
// message's failures.
func WithBackoff(min, max time.Duration) Option {
	return optionFunc(func(c *config) { c.minBackoff, c.maxBackoff = min, max })
}

// WithDrainTimeout bounds how long Run keeps writing pending batches after
// its context ends (default 30 s); what is not written by then is nacked.
func WithDrainTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.drainTimeout = d })
}

// WithFailedMode reads hem.event.v1.FailedEvent messages (the hem-failed
// topic) instead of events. A failed processor needs no Schemas and no
// FailedPublisher.
func WithFailedMode() Option { return optionFunc(func(c *config) { c.failedMode = true }) }

// WithPermanentError adds a classifier of errors from the schema source and
// the sink: true means retrying cannot help, e.g. the registry answered that
// a schema id does not exist. Errors marked sink.Permanent are always
// permanent.
func WithPermanentError(f func(error) bool) Option {
	return optionFunc(func(c *config) {
		prev := c.permanent
		c.permanent = func(err error) bool { return prev(err) || f(err) }
	})
}

// WithName names the processor in its metrics (attribute "processor"),
// e.g. the subscription or the sink.
func WithName(name string) Option { return optionFunc(func(c *config) { c.name = name }) }

// WithMeterProvider records metrics, each with the attribute
// processor=<WithName>. The default records nothing.
//
//   - hem.processor.messages{outcome}: messages by what became of them:
//     received, acked, nacked, failed (sent to hem-failed), refused (failed
//     mode);
//   - hem.processor.batches{type,outcome}: sink writes by event type and
//     outcome (ok, partial, error);
//   - hem.processor.write.duration{type}: seconds per sink write;
//   - hem.processor.outstanding: messages pulled and not yet settled.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.meter = mp
		}
	})
}

// WithLogger logs what an operator should see: failing pulls, failing
// writes, failed-event publishes and acks that did not go through. Nil, the
// default, logs nothing.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithClock replaces time.Now for batch ages, leases and failed-at stamps
// (tests that also move the Pub/Sub server's clock).
func WithClock(now func() time.Time) Option { return optionFunc(func(c *config) { c.now = now }) }
