package collector

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// metrics are the collector's instruments:
//
//   - hem.collector.events{type,status,reason}: events answered, by outcome;
//   - hem.collector.requests.refused{reason}: whole requests refused
//     (unauthenticated, permission_denied, overloaded, batch_too_large);
//   - hem.collector.publish.duration{topic,outcome}: seconds from publish to
//     Pub/Sub's confirmation;
//   - hem.collector.answer.duration{type}: seconds from taking a request in
//     (decoded) to its answer, once per type the request carried (the console's p99
//     per subject).
type metrics struct {
	events  metric.Int64Counter
	refusal metric.Int64Counter
	publish metric.Float64Histogram
	answer  metric.Float64Histogram
	// Attribute sets are built once per combination: hashing them per
	// event would cost more than the counting.
	eventAttrs   sync.Map // eventKey → metric.MeasurementOption
	publishAttrs sync.Map // publishKey → metric.MeasurementOption
	answerAttrs  sync.Map // subject → metric.MeasurementOption
}

type eventKey struct {
	subject string
	status  collectorv1.EventStatus
	reason  eventv1.Reason
}

type publishKey struct {
	topic string
	ok    bool
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter("github.com/hemlabs/hem/collector")
	events, err1 := m.Int64Counter("hem.collector.events", metric.WithDescription("Events answered, by type, status and reason."))
	refusal, err2 := m.Int64Counter("hem.collector.requests.refused", metric.WithDescription("Requests refused as a whole, by reason."))
	publish, err3 := m.Float64Histogram("hem.collector.publish.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from publish to Pub/Sub's confirmation."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	answer, err4 := m.Float64Histogram("hem.collector.answer.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from taking a request in (decoded) to its answer, by the types it carried."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	return &metrics{events: events, refusal: refusal, publish: publish, answer: answer}, nil
}

// answeredEvents counts a request's answered events. labels[i] is the subject of
// the schema results[i] resolved to, "" when it did not: the producer's own
// type name would make the label set unbounded. Equal outcomes are added
// at once (a request carries few types and outcomes).
func (m *metrics) answeredEvents(ctx context.Context, results []*collectorv1.EventResult, labels []string) {
	type count struct {
		k eventKey
		n int64
	}
	var seen [8]count
	counts := seen[:0]
next:
	for i, r := range results {
		subject := labels[i]
		if subject == "" {
			subject = "unknown"
		}
		k := eventKey{subject, r.GetStatus(), r.GetReason()}
		for j := range counts {
			if counts[j].k == k {
				counts[j].n++
				continue next
			}
		}
		counts = append(counts, count{k, 1})
	}
	for _, c := range counts {
		opt, ok := m.eventAttrs.Load(c.k)
		if !ok {
			opt, _ = m.eventAttrs.LoadOrStore(c.k, metric.WithAttributeSet(attribute.NewSet(
				attribute.String("type", c.k.subject),
				attribute.String("status", strings.ToLower(strings.TrimPrefix(c.k.status.String(), "EVENT_STATUS_"))),
				attribute.String("reason", strings.ToLower(strings.TrimPrefix(c.k.reason.String(), "REASON_"))),
			)))
		}
		m.events.Add(ctx, c.n, opt.(metric.MeasurementOption))
	}
}

// answered records a request's answer time d once for each subject in
// labels (the subjects its events resolved to, "" when unresolved).
func (m *metrics) answered(ctx context.Context, labels []string, d time.Duration) {
	secs := d.Seconds()
	// Labels are subjects of the registry (or ""), so the distinct ones
	// are few; a request mostly carries one.
	var seen [4]string
	distinct := seen[:0]
	for _, subject := range labels {
		if slices.Contains(distinct, subject) {
			continue
		}
		distinct = append(distinct, subject)
		if subject == "" {
			subject = "unknown"
		}
		opt, ok := m.answerAttrs.Load(subject)
		if !ok {
			opt, _ = m.answerAttrs.LoadOrStore(subject, metric.WithAttributeSet(attribute.NewSet(attribute.String("type", subject))))
		}
		m.answer.Record(ctx, secs, opt.(metric.MeasurementOption))
	}
}

func (m *metrics) refused(ctx context.Context, reason string) {
	m.refusal.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
}

func (m *metrics) published(ctx context.Context, topic string, d time.Duration, err error) {
	k := publishKey{topic, err == nil}
	opt, ok := m.publishAttrs.Load(k)
	if !ok {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		opt, _ = m.publishAttrs.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("topic", topic), attribute.String("outcome", outcome))))
	}
	m.publish.Record(ctx, d.Seconds(), opt.(metric.MeasurementOption))
}
