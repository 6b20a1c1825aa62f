package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	commonv1 "github.com/hemlabs/hem/gen/shop/common/v1"
	ordersv1 "github.com/hemlabs/hem/gen/shop/orders/v1"
)

func start(t *testing.T, opts ...collector.Option) *collectortest.Stack {
	t.Helper()
	st, err := collectortest.Start(t.Context(), "../proto", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newClient(t *testing.T, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(t.Context(), addr, append([]client.Option{client.WithAPIKey(collectortest.APIKey)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func order(n int) *ordersv1.OrderPlaced {
	return &ordersv1.OrderPlaced{
		OrderId:    fmt.Sprintf("0193a3b4-5c6d-7e8f-9a0b-%012d", n),
		MemberId:   "m-42",
		StoreId:    "ams-01",
		Channel:    ordersv1.Channel_CHANNEL_APP,
		Items:      []*ordersv1.LineItem{{Sku: "SKU-1", Quantity: 1, UnitPrice: &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 1_990_000}}},
		Total:      &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 1_990_000},
		PlacedAt:   timestamppb.Now(),
		Fulfilment: &ordersv1.OrderPlaced_PickupStoreId{PickupStoreId: "ams-01"},
	}
}

func TestBatchesByCount(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := newClient(t, st.Addr, client.WithBatchCount(10), client.WithBatchDelay(time.Hour))
	var results []*client.Result
	for i := range 25 {
		results = append(results, c.Emit(t.Context(), order(i)))
	}
	// 20 go out in two full batches; 5 wait for the (hour-long) delay.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, r := range results[:20] {
		if _, err := r.Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-results[20].Done():
		t.Fatal("a partial batch was sent before its delay")
	case <-time.After(50 * time.Millisecond):
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range results[20:] {
		if res, err := r.Get(ctx); err != nil || res.GetEventId() != r.EventID() {
			t.Fatalf("after flush: %v %v", res, err)
		}
	}
	if n := len(st.Published(envelope.EventsTopic)); n != 25 {
		t.Errorf("%d events on the topic, want 25", n)
	}
}

func TestRejectedAndOptions(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := newClient(t, st.Addr, client.WithBatchDelay(time.Millisecond))
	bad := order(1)
	bad.Items[0].Quantity = 1000
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	good := c.Emit(t.Context(), order(2), client.WithEventID("my-id"), client.WithEventTime(at), client.WithAttributes(map[string]string{"k": "v"}))
	rej := c.Emit(t.Context(), bad)
	res, err := good.Get(t.Context())
	if err != nil || res.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED || res.GetEventId() != "my-id" {
		t.Fatalf("good: %v %v", res, err)
	}
	res, err = rej.Get(t.Context())
	var re *client.RejectedError
	if !errors.As(err, &re) || res.GetViolations()[0].GetFieldPath() != "items[0].quantity" {
		t.Fatalf("bad: %v %v", res, err)
	}
	msgs := st.Published(envelope.EventsTopic)
	env, _ := envelope.Decode(msgs[0].Attributes)
	if len(msgs) != 1 || env.EventID != "my-id" || !env.EventTime.Equal(at) || env.Attributes["k"] != "v" {
		t.Errorf("published %+v", env)
	}
}

func TestUnauthenticatedIsNotRetried(t *testing.T) {
	t.Parallel()
	st := start(t)
	c, err := client.New(t.Context(), st.Addr, client.WithAPIKey("wrong"), client.WithBatchDelay(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	start := time.Now()
	_, err = c.Emit(t.Context(), order(1)).Get(t.Context())
	if err == nil || errors.Is(err, client.ErrRetriesExhausted) || time.Since(start) > 2*time.Second {
		t.Errorf("wrong key: %v after %v", err, time.Since(start))
	}
}

// TestPubSubOutage is the acceptance test for outages: while Pub/Sub
// refuses publishes the collector answers RETRY, the client keeps retrying
// with the same ids, and once Pub/Sub is back every event is on the topic,
// none missing.
func TestPubSubOutage(t *testing.T) {
	t.Parallel()
	ps := collector.DefaultPublishSettings()
	ps.Timeout = 300 * time.Millisecond
	st := start(t, collector.WithPublishSettings(ps))
	c := newClient(t, st.Addr, client.WithRetry(50, 50*time.Millisecond), client.WithBatchCount(20))
	st.Outage.Set(true)
	var results []*client.Result
	for i := range 100 {
		results = append(results, c.Emit(t.Context(), order(i)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for st.Outage.Refused() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, r := range results {
		select {
		case <-r.Done():
			res, err := r.Get(t.Context())
			t.Fatalf("answered during the outage: %v %v", res, err)
		default:
		}
	}
	st.Outage.Set(false)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var ids []string
	for _, r := range results {
		res, err := r.Get(ctx)
		if err != nil {
			t.Fatalf("event %s: %v", r.EventID(), err)
		}
		if res.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED || res.GetEventId() != r.EventID() {
			t.Fatalf("event %s: %v", r.EventID(), res)
		}
		ids = append(ids, r.EventID())
	}
	seen := map[string]bool{}
	for _, m := range st.Published(envelope.EventsTopic) {
		seen[m.Attributes[envelope.AttrEventID]] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("event %s is not on the topic", id)
		}
	}
	if len(seen) != len(ids) || slices.Contains(ids, "") {
		t.Errorf("%d distinct ids on the topic, want %d", len(seen), len(ids))
	}
	if st.Outage.Refused() == 0 {
		t.Error("the outage refused nothing")
	}
}

func TestCloseAnswersEverything(t *testing.T) {
	t.Parallel()
	st := start(t)
	c, err := client.New(t.Context(), st.Addr, client.WithAPIKey(collectortest.APIKey), client.WithBatchDelay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Emit(t.Context(), order(1))
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(t.Context()); err != nil {
		t.Errorf("queued event after Close: %v", err)
	}
	if _, err := c.Emit(t.Context(), order(2)).Get(t.Context()); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Emit after Close: %v", err)
	}
}
