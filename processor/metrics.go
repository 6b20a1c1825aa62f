package processor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/hemlabs/hem/sink"
)

// Stats counts what a processor did since it started. Received counts
// deliveries, so a redelivered message counts again.
type Stats struct {
	// Received messages (deliveries).
	Received int64
	// Written events the sink reported durable.
	Written int64
	// Acked messages: written, or sent to hem-failed.
	Acked int64
	// Nacked messages: to be redelivered after a backoff, or at shutdown.
	Nacked int64
	// Failed messages sent to hem-failed as FailedEvents.
	Failed int64
	// Refused messages that failed for good in failed mode, where there is
	// nowhere further to send them: nacked with the longest backoff.
	Refused int64
	// Batches written (successfully or not).
	Batches int64
	// Outstanding messages: pulled and neither acked nor nacked yet.
	Outstanding int64
}

type counters struct {
	received, written, acked, nacked, failed, refused, batches, outstanding atomic.Int64
}

// metrics are the processor's instruments (listed at WithMeterProvider).
type metrics struct {
	messages metric.Int64Counter
	batches  metric.Int64Counter
	write    metric.Float64Histogram
	name     attribute.KeyValue
	outcome  map[string]metric.MeasurementOption
	// Attribute sets per (subject, outcome), built once: hashing them per
	// batch is cheap, but there is no need.
	batchAttrs sync.Map // batchKey → metric.MeasurementOption
	writeAttrs sync.Map // subject → metric.MeasurementOption
	reg        metric.Registration
}

type batchKey struct{ subject, outcome string }

func newMetrics(mp metric.MeterProvider, name string, c *counters) (*metrics, error) {
	m := mp.Meter("github.com/hemlabs/hem/processor")
	messages, err1 := m.Int64Counter("hem.processor.messages", metric.WithDescription("Messages by outcome: received, acked, nacked, failed (sent to hem-failed), refused (failed mode)."))
	batches, err2 := m.Int64Counter("hem.processor.batches", metric.WithDescription("Sink writes by event type and outcome (ok, partial, error)."))
	write, err3 := m.Float64Histogram("hem.processor.write.duration", metric.WithUnit("s"),
		metric.WithDescription("Time of one sink write."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	outstanding, err4 := m.Int64ObservableGauge("hem.processor.outstanding", metric.WithDescription("Messages pulled and not yet acked or nacked."))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	out := &metrics{messages: messages, batches: batches, write: write, name: attribute.String("processor", name), outcome: map[string]metric.MeasurementOption{}}
	for _, o := range []string{"received", "acked", "nacked", "failed", "refused"} {
		out.outcome[o] = metric.WithAttributeSet(attribute.NewSet(out.name, attribute.String("outcome", o)))
	}
	nameOnly := metric.WithAttributeSet(attribute.NewSet(out.name))
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(outstanding, c.outstanding.Load(), nameOnly)
		return nil
	}, outstanding)
	if err != nil {
		return nil, err
	}
	out.reg = reg
	return out, nil
}

func (m *metrics) count(ctx context.Context, outcome string, n int) {
	if n > 0 {
		m.messages.Add(ctx, int64(n), m.outcome[outcome])
	}
}

func (m *metrics) batch(ctx context.Context, subject string, d time.Duration, err error) {
	outcome := "ok"
	var be *sink.BatchError
	switch {
	case err == nil:
	case errors.As(err, &be):
		outcome = "partial"
	default:
		outcome = "error"
	}
	k := batchKey{subject, outcome}
	opt, ok := m.batchAttrs.Load(k)
	if !ok {
		opt, _ = m.batchAttrs.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(
			m.name, attribute.String("type", subject), attribute.String("outcome", outcome))))
	}
	m.batches.Add(ctx, 1, opt.(metric.MeasurementOption))
	wopt, ok := m.writeAttrs.Load(subject)
	if !ok {
		wopt, _ = m.writeAttrs.LoadOrStore(subject, metric.WithAttributeSet(attribute.NewSet(m.name, attribute.String("type", subject))))
	}
	m.write.Record(ctx, d.Seconds(), wopt.(metric.MeasurementOption))
}
