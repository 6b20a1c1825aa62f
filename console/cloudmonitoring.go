package console

import (
	"context"
	"errors"
	"fmt"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The metric types CloudMonitoring reads. hem's services serve their OTel
// instruments only as Prometheus /metrics (internal/cli: the otel
// Prometheus exporter), so in production they reach Cloud Monitoring
// through Google Managed Prometheus, under prometheus.googleapis.com/
// <prom name>/<kind>. Pub/Sub's own metrics say what a subscription holds.
//
// VERIFY on real Cloud Monitoring: these types, and the label names below
// (GMP keeps the Prometheus labels as metric labels; Pub/Sub puts the
// subscription in the resource label subscription_id); and that something
// scrapes the collector's /metrics into GMP (terraform deploys no GMP
// sidecar yet: until then the subjects' rows stay empty).
const (
	cmEvents      = "prometheus.googleapis.com/hem_collector_events_total/counter"              // metric.labels: type, status
	cmAnswer      = "prometheus.googleapis.com/hem_collector_answer_duration_seconds/histogram" // metric.labels: type
	cmBacklog     = "pubsub.googleapis.com/subscription/num_undelivered_messages"
	cmOldest      = "pubsub.googleapis.com/subscription/oldest_unacked_message_age" // seconds
	cmDeadLetters = "pubsub.googleapis.com/subscription/dead_letter_message_count"  // a DELTA: messages forwarded
)

// DefaultMonitoringWindow is how far back CloudMonitoring looks: GMP
// scrapes every minute and Pub/Sub samples every minute, with some delay
// before a point can be read.
const DefaultMonitoringWindow = 5 * time.Minute

// CloudMonitoring is Metrics over Google Cloud Monitoring (production).
// Each Snapshot lists the time series of the last window: counters are
// the newest cumulative value of each series, summed (a series that
// stops, say a Cloud Run instance gone, makes the sum drop, which the
// Sampler takes as a restart); the p99 is Cloud Monitoring's own
// percentile over the window's answers; dead letters are the messages
// forwarded to a dead-letter topic in the window. Safe for concurrent use.
type CloudMonitoring struct {
	client  *monitoring.MetricClient
	project string
	window  time.Duration
	now     func() time.Time
}

var _ Metrics = (*CloudMonitoring)(nil)

// NewCloudMonitoring reads project's metrics through client, which the
// caller owns and closes; a window of 0 is DefaultMonitoringWindow.
func NewCloudMonitoring(client *monitoring.MetricClient, project string, window time.Duration) (*CloudMonitoring, error) {
	switch {
	case client == nil:
		return nil, errors.New("console: cloud monitoring: no client")
	case project == "":
		return nil, errors.New("console: cloud monitoring: no project")
	case window < 0:
		return nil, errors.New("console: cloud monitoring: negative window")
	case window == 0:
		window = DefaultMonitoringWindow
	}
	return &CloudMonitoring{client: client, project: project, window: window, now: time.Now}, nil
}

// Snapshot lists the window's series, one request per metric.
func (m *CloudMonitoring) Snapshot(ctx context.Context) (*Snapshot, error) {
	now := m.now()
	s := &Snapshot{
		At:          now,
		Accepted:    map[string]float64{},
		Rejected:    map[string]float64{},
		P99:         map[string]float64{},
		Backlog:     map[string]float64{},
		OldestAge:   map[string]time.Duration{},
		DeadLetters: map[string]float64{},
	}
	interval := &monitoringpb.TimeInterval{StartTime: timestamppb.New(now.Add(-m.window)), EndTime: timestamppb.New(now)}
	err := m.list(ctx, cmEvents, interval, nil, func(ts *monitoringpb.TimeSeries) {
		v := newest(ts)
		l := ts.GetMetric().GetLabels()
		switch l["status"] {
		case "accepted":
			s.Accepted[l["type"]] += v
		case "rejected":
			s.Rejected[l["type"]] += v
		}
	})
	if err != nil {
		return nil, err
	}
	// Percentiles of a distribution need deltas, then one reducer across
	// the instances of a type.
	p99 := &monitoringpb.Aggregation{
		AlignmentPeriod:    durationpb.New(m.window),
		PerSeriesAligner:   monitoringpb.Aggregation_ALIGN_DELTA,
		CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_PERCENTILE_99,
		GroupByFields:      []string{"metric.label.type"},
	}
	if err := m.list(ctx, cmAnswer, interval, p99, func(ts *monitoringpb.TimeSeries) {
		if len(ts.GetPoints()) > 0 {
			s.P99[ts.GetMetric().GetLabels()["type"]] = newest(ts)
		}
	}); err != nil {
		return nil, err
	}
	sub := func(ts *monitoringpb.TimeSeries) string { return ts.GetResource().GetLabels()["subscription_id"] }
	if err := m.list(ctx, cmBacklog, interval, nil, func(ts *monitoringpb.TimeSeries) {
		s.Backlog[sub(ts)] += newest(ts)
	}); err != nil {
		return nil, err
	}
	if err := m.list(ctx, cmOldest, interval, nil, func(ts *monitoringpb.TimeSeries) {
		s.OldestAge[sub(ts)] = max(s.OldestAge[sub(ts)], time.Duration(newest(ts)*float64(time.Second)))
	}); err != nil {
		return nil, err
	}
	if err := m.list(ctx, cmDeadLetters, interval, nil, func(ts *monitoringpb.TimeSeries) {
		for _, p := range ts.GetPoints() {
			s.DeadLetters[sub(ts)] += value(p)
		}
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// list calls each for every series of metricType in interval.
func (m *CloudMonitoring) list(ctx context.Context, metricType string, interval *monitoringpb.TimeInterval,
	agg *monitoringpb.Aggregation, each func(*monitoringpb.TimeSeries),
) error {
	it := m.client.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{
		Name:        "projects/" + m.project,
		Filter:      fmt.Sprintf("metric.type = %q", metricType),
		Interval:    interval,
		Aggregation: agg,
		View:        monitoringpb.ListTimeSeriesRequest_FULL,
	})
	for {
		ts, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("console: cloud monitoring %s: %w", metricType, err)
		}
		each(ts)
	}
}

// newest is a series' newest point: Cloud Monitoring lists them newest
// first.
func newest(ts *monitoringpb.TimeSeries) float64 {
	if len(ts.GetPoints()) == 0 {
		return 0
	}
	return value(ts.GetPoints()[0])
}

func value(p *monitoringpb.Point) float64 {
	switch v := p.GetValue().GetValue().(type) {
	case *monitoringpb.TypedValue_DoubleValue:
		return v.DoubleValue
	case *monitoringpb.TypedValue_Int64Value:
		return float64(v.Int64Value)
	case *monitoringpb.TypedValue_DistributionValue:
		return float64(v.DistributionValue.GetCount())
	}
	return 0
}
