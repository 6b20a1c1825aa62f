package duckdb

import (
	"fmt"
	"testing"
	"time"

	"buf.build/go/hyperpb"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/sinktest"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

// BenchmarkBuildRows converts a batch of 1000 OrderPlaced events, decoded
// with hyperpb as the processor decodes them, into appender rows.
func BenchmarkBuildRows(b *testing.B) {
	placed := sinktest.Schemas(b)["shop.orders.v1.OrderPlaced"]
	t, err := mapTable(placed, "")
	if err != nil {
		b.Fatal(err)
	}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = c.Name
	}
	parser := hyperpb.CompileMessageDescriptor(placed.Descriptor())
	g, _ := sample.NewGenerator(1, []string{placed.Subject}, 0)
	now := time.Now()
	events := make([]*sink.Event, 1000)
	for i := range events {
		data, _ := proto.Marshal(g.Next().Message)
		m := hyperpb.NewMessage(parser)
		if err := m.Unmarshal(data); err != nil {
			b.Fatal(err)
		}
		events[i] = &sink.Event{ID: fmt.Sprint(i), Schema: placed, Message: m, Payload: data,
			EventTime: now, ReceivedAt: now, PublishedAt: now, Producer: "bench"}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, failed := buildRows(t, cols, events); len(failed) > 0 {
			b.Fatal(failed)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(events)), "µs/row")
}
