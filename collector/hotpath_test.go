package collector

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/collector/codec"
	"github.com/hemlabs/hem/contract"
	commonv1 "github.com/hemlabs/hem/gen/shop/common/v1"
	ordersv1 "github.com/hemlabs/hem/gen/shop/orders/v1"
)

func orderPlaced(items int) *ordersv1.OrderPlaced {
	o := &ordersv1.OrderPlaced{
		OrderId:  "0193a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
		MemberId: "m-42",
		StoreId:  "ams-01",
		Channel:  ordersv1.Channel_CHANNEL_WEB,
		Total:    &commonv1.Money{CurrencyCode: "EUR", AmountMicros: 99_950_000},
		PlacedAt: timestamppb.New(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)),
		Fulfilment: &ordersv1.OrderPlaced_HomeDelivery{HomeDelivery: &ordersv1.HomeDelivery{
			Address: &commonv1.Address{Line1: "Damrak 1", PostalCode: "1012 LG", City: "Amsterdam", CountryCode: "NL"},
		}},
		Labels: map[string]string{"campaign": "spring"},
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

func testSchema(tb testing.TB, subject string) *contract.Schema {
	tb.Helper()
	src, err := contract.CompileDir(tb.Context(), "../proto")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := src.Schema(subject)
	if err != nil {
		tb.Fatal(err)
	}
	return s.WithIdentity(7, 1, contract.Usable, time.Now())
}

// BenchmarkHotPath is the per-event CPU cost of an accepted OrderPlaced with
// five line items: decode, unknown-field check, protovalidate, PII, entity
// key, deterministic encode.
func BenchmarkHotPath(b *testing.B) {
	p := newPlan(testSchema(b, "shop.orders.v1.OrderPlaced"))
	payload, err := proto.Marshal(orderPlaced(5))
	if err != nil {
		b.Fatal(err)
	}
	h := codec.NewHasher([]byte("benchmark-salt-0123456789"))
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, _, rej := p.process(payload, h, nil, false); rej != nil {
			b.Fatal(rej.message)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
