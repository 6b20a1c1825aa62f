package devpubsub_test

import (
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hemlabs/hem/internal/devpubsub"
)

// A subscription's backlog counts queued and leased messages, its oldest
// unacknowledged age runs from the oldest's publish until its ack, and its
// dead-letter depth is what waits on the dead-letter topic's
// subscriptions; the same numbers are exported as gauges for the console.
func TestStatsAndGauges(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	reader := sdkmetric.NewManualReader()
	srv, c := start(t, devpubsub.WithClock(clock), devpubsub.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	setup(t, c, "dead", &pubsubpb.Subscription{Name: project + "/subscriptions/dead-sub"})
	setup(t, c, "events",
		&pubsubpb.Subscription{Name: project + "/subscriptions/s", AckDeadlineSeconds: 600,
			DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{DeadLetterTopic: project + "/topics/dead", MaxDeliveryAttempts: 5}},
		&pubsubpb.Subscription{Name: project + "/subscriptions/plain"})

	publish(t, c, "events", 2)
	advance(30 * time.Second)
	publish(t, c, "events", 1)
	publish(t, c, "dead", 4)
	advance(10 * time.Second)
	// The two oldest are leased, not acked: they still count, and are
	// still the oldest.
	leased := pullAll(t, c, "s", 2, false)

	want := map[string]devpubsub.SubscriptionStats{
		"dead-sub": {Name: "dead-sub", Backlog: 4, OldestUnacked: 10 * time.Second},
		"plain":    {Name: "plain", Backlog: 3, OldestUnacked: 40 * time.Second},
		"s":        {Name: "s", Backlog: 3, OldestUnacked: 40 * time.Second, DeadLetters: 4, HasDeadLetter: true},
	}
	check := func(t *testing.T, want map[string]devpubsub.SubscriptionStats) {
		t.Helper()
		got := srv.Stats()
		if len(got) != len(want) {
			t.Fatalf("stats %+v, want %d subscriptions", got, len(want))
		}
		for _, st := range got {
			if st != want[st.Name] {
				t.Errorf("stats %+v, want %+v", st, want[st.Name])
			}
		}
	}
	check(t, want)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	gauges := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					v, _ := dp.Attributes.Value("subscription")
					gauges[m.Name+" "+v.AsString()] = float64(dp.Value)
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					v, _ := dp.Attributes.Value("subscription")
					gauges[m.Name+" "+v.AsString()] = dp.Value
				}
			}
		}
	}
	for k, v := range map[string]float64{
		"hem.pubsub.subscription.backlog s":                   3,
		"hem.pubsub.subscription.oldest_unacked_age s":        40,
		"hem.pubsub.subscription.dead_letters s":              4,
		"hem.pubsub.subscription.backlog plain":               3,
		"hem.pubsub.subscription.oldest_unacked_age plain":    40,
		"hem.pubsub.subscription.oldest_unacked_age dead-sub": 10,
	} {
		if g, ok := gauges[k]; !ok || g != v {
			t.Errorf("gauge %s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := gauges["hem.pubsub.subscription.dead_letters plain"]; ok {
		t.Error("a dead-letter depth for a subscription without a dead-letter topic")
	}

	// Acking the two oldest leaves the newest, 10 s old.
	var ids []string
	for _, m := range leased {
		ids = append(ids, m.AckId)
	}
	if err := c.SubscriptionAdminClient.Acknowledge(t.Context(), &pubsubpb.AcknowledgeRequest{Subscription: project + "/subscriptions/s", AckIds: ids}); err != nil {
		t.Fatal(err)
	}
	want["s"] = devpubsub.SubscriptionStats{Name: "s", Backlog: 1, OldestUnacked: 10 * time.Second, DeadLetters: 4, HasDeadLetter: true}
	check(t, want)
}
