package bigquery_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/hemlabs/hem/gen/shop/common/v1"
	ordersv1 "github.com/hemlabs/hem/gen/shop/orders/v1"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/sinktest"
)

// BenchmarkRowEncode measures payload → BigQuery row bytes for an
// OrderPlaced with 5 line items (issue target: ≥ 200k rows/s per core).
func BenchmarkRowEncode(b *testing.B) {
	s := sinktest.Schemas(b)["shop.orders.v1.OrderPlaced"]
	rs := rowSchema(b, s)
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	o := &ordersv1.OrderPlaced{
		OrderId: "0193a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b", MemberId: "m-42", StoreId: "ams-01",
		Channel:    ordersv1.Channel_CHANNEL_WEB,
		Total:      &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 99_950_000},
		PlacedAt:   timestamppb.New(at),
		Fulfilment: &ordersv1.OrderPlaced_PickupStoreId{PickupStoreId: "ams-01"},
		Labels:     map[string]string{"campaign": "spring", "ab": "b"},
	}
	for i := range 5 {
		o.Items = append(o.Items, &ordersv1.LineItem{Sku: fmt.Sprintf("SKU-%04d", i), Quantity: int32(i + 1),
			UnitPrice: &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 19_990_000}, Name: "Oat milk 1L"})
	}
	payload, err := proto.Marshal(o)
	if err != nil {
		b.Fatal(err)
	}
	ev := &sink.Event{ID: "0193a3b4-0000-7000-8000-000000000001", Schema: s, Payload: payload, EventTime: at,
		ReceivedAt: at, PublishedAt: at, Producer: "checkout", Attributes: map[string]string{"region": "nl"}}
	var row []byte
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if row, err = rs.AppendRow(row[:0], ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
