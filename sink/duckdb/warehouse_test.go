package duckdb_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	ordersv1 "github.com/hemlabs/hem/gen/shop/orders/v1"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/duckdb"
	"github.com/hemlabs/hem/sink/sinktest"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

// contracts are the sample contracts with ids, shared with the
// conformance suite.
func contracts(t testing.TB) map[string]*contract.Schema { return sinktest.Schemas(t) }

func open(t *testing.T) *duckdb.Warehouse {
	t.Helper()
	w, err := duckdb.Open(t.Context(), filepath.Join(t.TempDir(), "w.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	return w
}

// events decodes generated messages with s, as the processor does.
func events(t *testing.T, s *contract.Schema, n int, prefix string) []*sink.Event {
	t.Helper()
	g, err := sample.NewGenerator(uint64(n), []string{s.Subject}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []*sink.Event
	for i := range n {
		ev := g.Next()
		data, _ := proto.Marshal(ev.Message)
		m := s.NewMessage()
		if err := proto.Unmarshal(data, m); err != nil {
			t.Fatal(err)
		}
		out = append(out, &sink.Event{
			ID: fmt.Sprintf("%s-%d", prefix, i), Schema: s, Payload: data, Message: m,
			EventTime: ev.Time, ReceivedAt: ev.Time, PublishedAt: ev.Time.Add(time.Millisecond),
			Producer: "test", Attributes: map[string]string{"tenant": "nl"},
		})
	}
	return out
}

func query(t *testing.T, w *duckdb.Warehouse, q string) [][]any {
	t.Helper()
	res, err := w.Query(t.Context(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res.Rows
}

func TestWriteKeepsOneRowPerEventWithEveryValue(t *testing.T) {
	t.Parallel()
	all := contracts(t)
	w := open(t)
	placed := all["shop.orders.v1.OrderPlaced"]
	evs := events(t, placed, 300, "e")
	if err := w.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: evs}); err != nil {
		t.Fatal(err)
	}
	// Redelivery: the same events again, plus new ones.
	more := append(evs[:100:100], events(t, placed, 10, "f")...)
	if err := w.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: more}); err != nil {
		t.Fatal(err)
	}
	if got := query(t, w, "select count(*), count(distinct _event_id) from shop_orders_v1_order_placed")[0]; fmt.Sprint(got) != "[310 310]" {
		t.Fatalf("count, distinct ids = %v, want 310 each", got)
	}
	var o ordersv1.OrderPlaced
	if err := proto.Unmarshal(evs[0].Payload, &o); err != nil {
		t.Fatal(err)
	}
	row := query(t, w, `select order_id, channel, len(items), items[1].sku, items[1].unit_price.amount_micros, total.currency_code,
		placed_at, _producer, _schema_id, _attributes->>'$.tenant', labels[1].key, coupon_code, points_redeemed,
		home_delivery is null, pickup_store_id from shop_orders_v1_order_placed where _event_id = 'e-0'`)[0]
	want := []any{o.GetOrderId(), o.GetChannel().String(), int64(len(o.GetItems())), o.GetItems()[0].GetSku(), o.GetItems()[0].GetUnitPrice().GetAmountMicros(),
		"EUR", o.GetPlacedAt().AsTime().UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano), "test", placed.ID, "nl", "campaign"}
	for i, v := range want {
		if fmt.Sprint(row[i]) != fmt.Sprint(v) {
			t.Fatalf("column %d = %v, want %v (row %v)", i, row[i], v, row)
		}
	}
	if o.CouponCode == nil && row[11] != nil {
		t.Fatalf("unset optional coupon_code reads %v, want NULL", row[11])
	}
	if o.PointsRedeemed == nil && row[12] != nil || o.PointsRedeemed != nil && fmt.Sprint(row[12]) != fmt.Sprint(o.GetPointsRedeemed().GetValue()) {
		t.Fatalf("points_redeemed = %v, want %v", row[12], o.PointsRedeemed)
	}
	if _, pickup := o.GetFulfilment().(*ordersv1.OrderPlaced_PickupStoreId); pickup != (row[13] == true) || pickup != (row[14] != nil) {
		t.Fatalf("oneof: home_delivery null=%v, pickup=%v, but the event is pickup=%v", row[13], row[14], pickup)
	}
}

func TestNewVersionAddsColumnsOldRowsReadNull(t *testing.T) {
	t.Parallel()
	all := contracts(t)
	v1 := all["shop.orders.v1.OrderPlaced"]
	raw, err := os.ReadFile(filepath.Join("..", "..", "proto", "shop", "orders", "v1", "events.proto"))
	if err != nil {
		t.Fatal(err)
	}
	common, _ := os.ReadFile(filepath.Join("..", "..", "proto", "shop", "common", "v1", "common.proto"))
	src := strings.Replace(string(raw), "  string gift_message = 14", "  // A note for the driver.\n  optional string note = 15;\n  string gift_message = 14", 1)
	// A field added inside a nested record too.
	src = strings.Replace(src, "  string name = 4;\n}", "  string name = 4;\n  // Whether it was on offer.\n  bool on_offer = 5;\n}", 1)
	compiled, err := contract.CompileSources(t.Context(), map[string]string{"shop/orders/v1/events.proto": src, "shop/common/v1/common.proto": string(common)})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := compiled.Schema(v1.Subject)
	if err != nil {
		t.Fatal(err)
	}
	v2 = v2.WithIdentity(900, 2, contract.Usable, time.Now())

	w := open(t)
	if err := w.Write(t.Context(), &sink.Batch{Subject: v1.Subject, Events: events(t, v1, 5, "old")}); err != nil {
		t.Fatal(err)
	}
	newer := events(t, v2, 5, "new")
	for _, e := range newer {
		fd := e.Message.Descriptor().Fields().ByName("note")
		e.Message.Set(fd, protoValue("leave at the door"))
	}
	mixed := append(events(t, v1, 3, "mixed-old"), newer...)
	if err := w.Write(t.Context(), &sink.Batch{Subject: v1.Subject, Events: mixed}); err != nil {
		t.Fatal(err)
	}
	rows := query(t, w, `select _schema_version, count(*), count(note), count(*) filter (where items[1].on_offer is not null) from shop_orders_v1_order_placed group by 1 order by 1`)
	if fmt.Sprint(rows) != "[[1 8 0 0] [2 5 5 5]]" {
		t.Fatalf("by version (count, notes, on_offer set) = %v, want v1 rows with NULL note and v2 rows with it", rows)
	}
}

func TestFailedEventsTable(t *testing.T) {
	t.Parallel()
	w := open(t)
	s := contract.FailedEventSchema()
	m := s.NewMessage()
	m.Set(s.Descriptor().Fields().ByName("type"), protoValue("shop.orders.v1.OrderPlaced"))
	m.Set(s.Descriptor().Fields().ByName("reason"), protoEnum(5))
	ev := &sink.Event{ID: "m1", Schema: s, Message: m, EventTime: time.Now()}
	if err := w.Write(t.Context(), &sink.Batch{Subject: s.Subject, Events: []*sink.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	if got := query(t, w, `select type, reason from _failed_events`); fmt.Sprint(got) != "[[shop.orders.v1.OrderPlaced REASON_VALIDATION_FAILED]]" {
		t.Fatalf("_failed_events = %v", got)
	}
}

func BenchmarkWrite(b *testing.B) {
	all := contracts(b)
	placed := all["shop.orders.v1.OrderPlaced"]
	w, err := duckdb.Open(b.Context(), filepath.Join(b.TempDir(), "w.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(context.Background())
	g, _ := sample.NewGenerator(1, []string{placed.Subject}, 0)
	var msgs [][]byte
	for range 1000 {
		data, _ := proto.Marshal(g.Next().Message)
		msgs = append(msgs, data)
	}
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		batch := &sink.Batch{Subject: placed.Subject}
		for _, data := range msgs {
			m := placed.NewMessage()
			_ = proto.Unmarshal(data, m)
			batch.Events = append(batch.Events, &sink.Event{ID: fmt.Sprint(n), Schema: placed, Message: m, EventTime: time.Now()})
			n++
		}
		if err := w.Write(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}
