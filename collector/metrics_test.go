package collector_test

import (
	"fmt"
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// Event metrics are labelled with subjects hem resolved, or "unknown":
// type names a producer makes up (alone, or pinned to an existing schema
// id) never become label values.
func TestEventMetricsLabelOnlyResolvedTypes(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	st := start(t, collector.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	c := dial(t, st.Addr)
	order, err := st.Schemas.Latest(t.Context(), "shop.orders.v1.OrderPlaced")
	if err != nil {
		t.Fatal(err)
	}
	var events []*eventv1.Event
	for i := range 50 {
		pinned := rawEvent(fmt.Sprintf("p%d", i), fmt.Sprintf("attacker.pinned.T%d", i), nil)
		pinned.SchemaId = order.ID
		events = append(events, pinned, rawEvent(fmt.Sprintf("u%d", i), fmt.Sprintf("attacker.free.T%d", i), nil))
	}
	events = append(events, event(t, "ok", orderPlaced(1)))
	mustCollect(t, c, events...)
	for i := range 20 {
		body := fmt.Sprintf(`{"events": [{"eventId": "h%d", "schemaId": "%d", "payload": {"@type": "type.googleapis.com/attacker.http.T%d"}}]}`, i, order.ID, i)
		post(t, st, collectortest.APIKey, body)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	labels := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "hem.collector.events" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				v, _ := dp.Attributes.Value("type")
				labels[v.AsString()] += dp.Value
			}
		}
	}
	for l := range labels {
		if strings.HasPrefix(l, "attacker.") {
			t.Errorf("producer-chosen type %q became a label", l)
		}
	}
	if labels["unknown"] != 120 || labels["shop.orders.v1.OrderPlaced"] != 1 {
		t.Errorf("counts by type %v, want 120 unknown and 1 shop.orders.v1.OrderPlaced", labels)
	}
}

// Each request's answer time is recorded once per type it carried, so the
// console can show a p99 per subject: three requests, two of them with
// orders (one with two orders and an unknown type), make two order points
// and one unknown.
func TestAnswerDurationPerType(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	st := start(t, collector.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	c := dial(t, st.Addr)
	mustCollect(t, c, event(t, "a1", orderPlaced(1)), rawEvent("x1", "nobody.Knows", nil), event(t, "a2", orderPlaced(2)))
	mustCollect(t, c, event(t, "a3", orderPlaced(1)))
	mustCollect(t, c, rawEvent("x2", "nobody.Knows", nil))

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "hem.collector.answer.duration" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				v, _ := dp.Attributes.Value("type")
				counts[v.AsString()] += dp.Count
				if dp.Sum <= 0 {
					t.Errorf("%s: answer time sum %v, want > 0", v.AsString(), dp.Sum)
				}
			}
		}
	}
	if len(counts) != 2 || counts["shop.orders.v1.OrderPlaced"] != 2 || counts["unknown"] != 2 {
		t.Errorf("answer times by type %v, want 2 shop.orders.v1.OrderPlaced and 2 unknown", counts)
	}
}
