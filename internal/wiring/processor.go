package wiring

import (
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/sink"
)

// Batch is when a processor writes a subject's batch: at Count events,
// Bytes of payload or Age since its first event, whichever comes first.
type Batch struct {
	Count int
	Bytes int64
	Age   time.Duration
}

// ProcessorConfig is one processor: a subscription drained into a sink.
type ProcessorConfig struct {
	// Sink is a name of the Sinks table.
	Sink string
	// Subscription defaults to envelope.SubscriptionFor(Sink).
	Subscription string
	Batch        Batch
	// Pullers is how many Pull calls run at once.
	Pullers int
	// MaxOutstandingMessages and MaxOutstandingBytes bound what is pulled
	// but not yet acked.
	MaxOutstandingMessages int64
	MaxOutstandingBytes    int64
	// MaxInFlight bounds concurrent sink writes.
	MaxInFlight int
	// AckDeadline is how long each lease extension lasts.
	AckDeadline time.Duration
	// DrainTimeout is how long pending batches may still be written after
	// the processor is told to stop (Cloud Run kills 10 s after SIGTERM).
	DrainTimeout time.Duration
}

// DefaultProcessorConfig is the production configuration of the processor
// of a sink; its batch comes from the sink's row of Sinks.
func DefaultProcessorConfig(sinkName string) ProcessorConfig {
	c := ProcessorConfig{
		Sink:                   sinkName,
		Subscription:           envelope.SubscriptionFor(sinkName),
		Batch:                  Batch{Count: 1000, Bytes: 8 << 20, Age: time.Second},
		Pullers:                2,
		MaxOutstandingMessages: 20_000,
		MaxOutstandingBytes:    256 << 20,
		MaxInFlight:            4,
		AckDeadline:            60 * time.Second,
		DrainTimeout:           8 * time.Second,
	}
	if k, ok := SinkKindOf(sinkName); ok {
		c.Batch = k.Batch
	}
	return c
}

// Options are the processor options of c, with the logger and meter of the
// service.
func (c ProcessorConfig) Options(log *slog.Logger, meter metric.MeterProvider) []processor.Option {
	opts := []processor.Option{
		processor.WithBatch(c.Batch.Count, c.Batch.Bytes, c.Batch.Age),
		processor.WithPullers(c.Pullers, 1000),
		processor.WithMaxOutstanding(c.MaxOutstandingMessages, c.MaxOutstandingBytes),
		processor.WithMaxInFlight(c.MaxInFlight),
		processor.WithAckDeadline(c.AckDeadline),
		processor.WithDrainTimeout(c.DrainTimeout),
		// An event of a schema id the registry does not know can never be
		// written: it becomes a FailedEvent.
		processor.WithPermanentError(func(err error) bool { return errors.Is(err, registry.ErrNotFound) }),
		processor.WithName(c.Subscription),
	}
	if log != nil {
		opts = append(opts, processor.WithLogger(log))
	}
	if meter != nil {
		opts = append(opts, processor.WithMeterProvider(meter))
	}
	if k, ok := SinkKindOf(c.Sink); ok && k.Failed {
		opts = append(opts, processor.WithFailedMode())
	}
	return opts
}

// NewProcessor builds the processor of c. The failed-events processor takes
// no schemas and no failed publisher (it stores hem's own FailedEvent).
func NewProcessor(c ProcessorConfig, pull processor.Puller, s sink.Sink, schemas processor.Schemas, failed processor.FailedPublisher,
	log *slog.Logger, meter metric.MeterProvider) (*processor.Processor, error) {
	return processor.New(pull, s, schemas, failed, c.Options(log, meter)...)
}
