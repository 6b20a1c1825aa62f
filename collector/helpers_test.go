package collector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	commonv1 "github.com/hemlabs/hem/gen/shop/common/v1"
	membersv1 "github.com/hemlabs/hem/gen/shop/members/v1"
	ordersv1 "github.com/hemlabs/hem/gen/shop/orders/v1"
	"github.com/hemlabs/hem/registry"
)

var _ collector.Schemas = (*registry.Client)(nil)

// start runs a collector stack for one test.
func start(t testing.TB, opts ...collector.Option) *collectortest.Stack {
	t.Helper()
	st, err := collectortest.Start(t.Context(), "../proto", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close stack: %v", err)
		}
	})
	return st
}

func dial(t testing.TB, addr string) collectorv1.CollectorServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return collectorv1.NewCollectorServiceClient(conn)
}

func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, auth.APIKeyHeader, key)
}

func collect(t testing.TB, c collectorv1.CollectorServiceClient, key string, events ...*eventv1.Event) (*collectorv1.CollectResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	return c.Collect(withKey(ctx, key), &collectorv1.CollectRequest{Events: events})
}

func mustCollect(t testing.TB, c collectorv1.CollectorServiceClient, events ...*eventv1.Event) []*collectorv1.EventResult {
	t.Helper()
	resp, err := collect(t, c, collectortest.APIKey, events...)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetResults()) != len(events) {
		t.Fatalf("%d results for %d events", len(resp.GetResults()), len(events))
	}
	return resp.GetResults()
}

func event(t testing.TB, id string, m proto.Message) *eventv1.Event {
	t.Helper()
	a := new(anypb.Any)
	err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true})
	if err != nil {
		t.Fatal(err)
	}
	return &eventv1.Event{EventId: id, Payload: a}
}

func rawEvent(id, subject string, payload []byte) *eventv1.Event {
	return &eventv1.Event{EventId: id, Payload: &anypb.Any{TypeUrl: "type.googleapis.com/" + subject, Value: payload}}
}

var placedAt = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func orderPlaced(items int) *ordersv1.OrderPlaced {
	o := &ordersv1.OrderPlaced{
		OrderId:    "0193a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
		MemberId:   "m-42",
		StoreId:    "ams-01",
		Channel:    ordersv1.Channel_CHANNEL_WEB,
		Total:      &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 99_950_000},
		PlacedAt:   timestamppb.New(placedAt),
		Fulfilment: &ordersv1.OrderPlaced_PickupStoreId{PickupStoreId: "ams-01"},
		Labels:     map[string]string{"campaign": "spring", "ab": "b"},
	}
	for i := range items {
		o.Items = append(o.Items, &ordersv1.LineItem{
			Sku:       fmt.Sprintf("SKU-%04d", i),
			Quantity:  int32(i + 1),
			UnitPrice: &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 19_990_000},
			Name:      "Oat milk 1L",
		})
	}
	return o
}

func memberRegistered() *membersv1.MemberRegistered {
	return &membersv1.MemberRegistered{
		MemberId:     "m-1",
		Email:        "ada@example.com",
		Phone:        "+31612345678",
		FullName:     "Ada Lovelace",
		Address:      &commonv1.Address{Line1: "Damrak 1", PostalCode: "1012 LG", City: "Amsterdam", CountryCode: "NL"},
		BirthYear:    wrapperspb.Int32(1990),
		Tier:         membersv1.Tier_TIER_GOLD,
		Consent:      &membersv1.Consent{EmailMarketing: true},
		RegisteredAt: timestamppb.New(placedAt),
	}
}
