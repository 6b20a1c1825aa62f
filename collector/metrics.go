package collector

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
)

// metrics are the collector's instruments:
//
//   - hem.collector.events{type,status,reason}: events answered, by outcome;
//   - hem.collector.requests.refused{reason}: whole requests refused
//     (unauthenticated, permission_denied, overloaded, batch_too_large);
//   - hem.collector.publish.duration{topic,outcome}: seconds from publish to
//     Pub/Sub's confirmation.
type metrics struct {
	events  metric.Int64Counter
	refusal metric.Int64Counter
	publish metric.Float64Histogram
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter("github.com/hemlabs/hem/collector")
	events, err1 := m.Int64Counter("hem.collector.events", metric.WithDescription("Events answered, by type, status and reason."))
	refusal, err2 := m.Int64Counter("hem.collector.requests.refused", metric.WithDescription("Requests refused as a whole, by reason."))
	publish, err3 := m.Float64Histogram("hem.collector.publish.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from publish to Pub/Sub's confirmation."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	return &metrics{events: events, refusal: refusal, publish: publish}, nil
}

func (m *metrics) event(ctx context.Context, r *collectorv1.EventResult, subject string) {
	status := strings.ToLower(strings.TrimPrefix(r.GetStatus().String(), "EVENT_STATUS_"))
	reason := strings.ToLower(strings.TrimPrefix(r.GetReason().String(), "REASON_"))
	if subject == "" || r.GetSchemaId() == 0 {
		subject = "unknown" // unresolved types would make the label unbounded
	}
	m.events.Add(ctx, 1, metric.WithAttributes(
		attribute.String("type", subject),
		attribute.String("status", status),
		attribute.String("reason", reason),
	))
}

func (m *metrics) refused(ctx context.Context, reason string) {
	m.refusal.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}

func (m *metrics) published(ctx context.Context, topic string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.publish.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("topic", topic), attribute.String("outcome", outcome)))
}
