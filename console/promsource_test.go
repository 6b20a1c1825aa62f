package console_test

import (
	"math"
	"testing"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	promclient "github.com/prometheus/client_golang/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	"github.com/hemlabs/hem/console"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	commonv1 "github.com/hemlabs/hem/gen/shop/common/v1"
	ordersv1 "github.com/hemlabs/hem/gen/shop/orders/v1"
	"github.com/hemlabs/hem/internal/devpubsub"
)

// PromSource reads the instruments the real collector and hem dev's
// Pub/Sub server export, through the OTel Prometheus exporter hem dev
// uses: the names it looks for are the names they have.
func TestPromSourceReadsTheRealInstruments(t *testing.T) {
	t.Parallel()
	reg := promclient.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	t.Cleanup(func() { _ = mp.Shutdown(t.Context()) })

	st, err := collectortest.Start(t.Context(), "../proto", collector.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ps, err := devpubsub.New(devpubsub.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ps.Close() })
	if err := ps.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	psc := dialPubSub(t, ps.Addr())
	if _, err := psc.TopicAdminClient.CreateTopic(t.Context(), &pubsubpb.Topic{Name: "projects/p/topics/events"}); err != nil {
		t.Fatal(err)
	}
	if _, err := psc.SubscriptionAdminClient.CreateSubscription(t.Context(), &pubsubpb.Subscription{
		Name: "projects/p/subscriptions/hem-events-duckdb", Topic: "projects/p/topics/events"}); err != nil {
		t.Fatal(err)
	}
	pub := psc.Publisher("events")
	for range 3 {
		if _, err := pub.Publish(t.Context(), &pubsubMessage).Get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	pub.Stop()

	src := console.NewPromSource(reg)
	ingest := func(good, bad int) {
		t.Helper()
		var in []collector.Input
		for range good {
			a, err := anypb.New(&ordersv1.OrderPlaced{
				OrderId: "0193a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b", MemberId: "m-42", StoreId: "ams-01",
				Channel:    ordersv1.Channel_CHANNEL_WEB,
				Total:      &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 19_990_000},
				PlacedAt:   timestamppb.Now(),
				Fulfilment: &ordersv1.OrderPlaced_PickupStoreId{PickupStoreId: "ams-01"},
				Items:      []*ordersv1.LineItem{{Sku: "SKU-0001", Quantity: 1, UnitPrice: &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 19_990_000}, Name: "Oat milk 1L"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, collector.Input{Event: &eventv1.Event{EventId: "e", Payload: a}})
		}
		for range bad {
			in = append(in, collector.Input{Event: &eventv1.Event{EventId: "b", Payload: &anypb.Any{
				TypeUrl: "type.googleapis.com/shop.orders.v1.OrderPlaced", Value: []byte{0xff, 0xff}}}})
		}
		p := &auth.Principal{Name: "test-producer", Types: []string{"*"}}
		if _, err := st.Collector.Ingest(t.Context(), p, in); err != nil {
			t.Fatal(err)
		}
	}
	ingest(2, 1)
	first, err := src.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const subject = "shop.orders.v1.OrderPlaced"
	if first.Accepted[subject] != 2 || first.Rejected[subject] != 1 {
		t.Fatalf("%s: %v accepted and %v rejected, want 2 and 1", subject, first.Accepted[subject], first.Rejected[subject])
	}
	if _, ok := first.P99[subject]; !ok {
		t.Errorf("no p99 for %s after answers: %v", subject, first.P99)
	}
	if first.Backlog["hem-events-duckdb"] != 3 || first.OldestAge["hem-events-duckdb"] <= 0 {
		t.Errorf("backlog %v, oldest %v; want 3 messages of some age", first.Backlog, first.OldestAge)
	}
	if _, ok := first.DeadLetters["hem-events-duckdb"]; ok {
		t.Error("a dead-letter depth for a subscription without a dead-letter topic")
	}
	// No answers since: no p99 (it is over the interval), counters kept.
	second, err := src.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := second.P99[subject]; ok {
		t.Errorf("a p99 %v with no answer since the last snapshot", second.P99[subject])
	}
	ingest(0, 2)
	third, err := src.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := third.Rejected[subject] - first.Rejected[subject]; d != 2 {
		t.Errorf("rejected went up by %v, want 2", d)
	}
	if third.Accepted[subject] != first.Accepted[subject] {
		t.Errorf("accepted went from %v to %v with no accepted event", first.Accepted[subject], third.Accepted[subject])
	}
}

var pubsubMessage = pubsub.Message{Data: []byte("x")}

func TestQuantile(t *testing.T) {
	t.Parallel()
	// Buckets ≤0.01: 90, ≤0.1: 99, ≤1: 100 (cumulative).
	for _, tt := range []struct {
		name   string
		bounds []float64
		cum    []float64
		count  float64
		want   float64
		ok     bool
	}{
		{"in the second bucket", []float64{0.01, 0.1, 1}, []float64{90, 99, 100}, 100, 0.1, true},
		{"linear in the bucket", []float64{0.01, 0.1, 1}, []float64{0, 50, 100}, 100, 0.1 + 0.9*(99.0-50)/50, true},
		{"beyond the last bound", []float64{0.01, 0.1}, []float64{10, 20}, 100, 0.1, true},
		{"no observations", []float64{0.01}, []float64{0}, 0, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := console.Quantile(0.99, tt.bounds, tt.cum, tt.count)
			if ok != tt.ok || math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("quantile = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func dialPubSub(t *testing.T, addr string) *pubsub.Client {
	t.Helper()
	c, err := pubsub.NewClient(t.Context(), "p", option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
