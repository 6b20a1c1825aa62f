package console_test

import (
	"regexp"
	"testing"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/console"
	"github.com/hemlabs/hem/console/monitoringtest"
)

func dialFake(t *testing.T, f *monitoringtest.Server) *monitoring.MetricClient {
	t.Helper()
	c, err := monitoring.NewMetricClient(t.Context(), option.WithEndpoint(f.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func series(metricLabels, resourceLabels map[string]string, values ...*monitoringpb.TypedValue) *monitoringpb.TimeSeries {
	ts := &monitoringpb.TimeSeries{Metric: &metric.Metric{Labels: metricLabels}, Resource: &monitoredres.MonitoredResource{Labels: resourceLabels}}
	for _, v := range values {
		ts.Points = append(ts.Points, &monitoringpb.Point{Value: v})
	}
	return ts
}

func dbl(v float64) *monitoringpb.TypedValue {
	return &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_DoubleValue{DoubleValue: v}}
}

func i64(v int64) *monitoringpb.TypedValue {
	return &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_Int64Value{Int64Value: v}}
}

func TestCloudMonitoringSnapshot(t *testing.T) {
	t.Parallel()
	sub := func(id string) map[string]string { return map[string]string{"subscription_id": id} }
	f := monitoringtest.Start(t, "hem-prod", map[string][]*monitoringpb.TimeSeries{
		"prometheus.googleapis.com/hem_collector_events_total/counter": {
			// Newest point first; two instances of the collector.
			series(map[string]string{"type": "shop.Order", "status": "accepted"}, nil, dbl(120), dbl(100)),
			series(map[string]string{"type": "shop.Order", "status": "accepted"}, nil, dbl(30)),
			series(map[string]string{"type": "shop.Order", "status": "rejected"}, nil, dbl(4)),
			series(map[string]string{"type": "shop.Order", "status": "refused"}, nil, dbl(9)),
		},
		"prometheus.googleapis.com/hem_collector_answer_duration_seconds/histogram": {
			series(map[string]string{"type": "shop.Order"}, nil, dbl(0.25)),
			series(map[string]string{"type": "shop.Empty"}, nil), // no answers in the window
		},
		"pubsub.googleapis.com/subscription/num_undelivered_messages": {
			series(nil, sub("orders-bq"), i64(42), i64(7)),
		},
		"pubsub.googleapis.com/subscription/oldest_unacked_message_age": {
			series(nil, sub("orders-bq"), i64(90), i64(30)),
		},
		"pubsub.googleapis.com/subscription/dead_letter_message_count": {
			series(nil, sub("orders-bq"), i64(2), i64(3)),
		},
	})
	m, err := console.NewCloudMonitoring(dialFake(t, f), "hem-prod", 0)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	s, err := m.Snapshot(t.Context())
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"accepted", s.Accepted["shop.Order"], 150.0},
		{"rejected", s.Rejected["shop.Order"], 4.0},
		{"p99", s.P99["shop.Order"], 0.25},
		{"p99 of a type without answers", len(s.P99), 1},
		{"backlog", s.Backlog["orders-bq"], 42.0},
		{"oldest", s.OldestAge["orders-bq"], 90 * time.Second},
		{"dead letters in the window", s.DeadLetters["orders-bq"], 5.0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.At.Before(before) {
		t.Errorf("At %v is before the call", s.At)
	}
	reqs := f.Requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want one per metric (5)", len(reqs))
	}
	for _, r := range reqs {
		iv := r.GetInterval()
		if d := iv.GetEndTime().AsTime().Sub(iv.GetStartTime().AsTime()); d != console.DefaultMonitoringWindow {
			t.Errorf("%s: interval of %v, want %v", r.GetFilter(), d, console.DefaultMonitoringWindow)
		}
	}
}

// The fake refuses like Cloud Monitoring, and a refusal reaches the Live
// page as an error naming the metric.
func TestCloudMonitoringFakeRefuses(t *testing.T) {
	t.Parallel()
	c := dialFake(t, monitoringtest.Start(t, "hem-prod", nil))
	now := time.Now()
	tests := []struct {
		name string
		req  *monitoringpb.ListTimeSeriesRequest
	}{
		{"no metric type", &monitoringpb.ListTimeSeriesRequest{Name: "projects/hem-prod", Filter: `resource.type = "pubsub_subscription"`,
			Interval: &monitoringpb.TimeInterval{EndTime: timestamp(now)}}},
		{"no end time", &monitoringpb.ListTimeSeriesRequest{Name: "projects/hem-prod", Filter: `metric.type = "a/b"`,
			Interval: &monitoringpb.TimeInterval{StartTime: timestamp(now)}}},
		{"reducer without aligner", &monitoringpb.ListTimeSeriesRequest{Name: "projects/hem-prod", Filter: `metric.type = "a/b"`,
			Interval:    &monitoringpb.TimeInterval{EndTime: timestamp(now)},
			Aggregation: &monitoringpb.Aggregation{CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_PERCENTILE_99}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := c.ListTimeSeries(t.Context(), tt.req).Next(); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
		})
	}
	m, err := console.NewCloudMonitoring(c, "other-project", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Snapshot(t.Context()); status.Code(err) != codes.NotFound || !regexp.MustCompile(`hem_collector_events_total`).MatchString(err.Error()) {
		t.Fatalf("Snapshot of an unknown project: %v; want NotFound naming the metric", err)
	}
}

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
