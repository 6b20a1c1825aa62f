package processor_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/duckdb"
)

// countingSink counts the events its inner sink made durable.
type countingSink struct {
	sink.Sink
	n atomic.Int64
}

func (c *countingSink) Write(ctx context.Context, b *sink.Batch) error {
	err := c.Sink.Write(ctx, b)
	for i := range b.Events {
		if sink.ErrorFor(err, i) == nil {
			c.n.Add(1)
		}
	}
	return err
}

// BenchmarkPipelineDuckDB is pstest → processor → DuckDB warehouse, events
// published and consumed at once (publisher, pstest, processor and DuckDB
// share the cores): the end-to-end rate of the local warehouse path.
func BenchmarkPipelineDuckDB(b *testing.B) {
	e := newEnv(b, 1)
	w, err := duckdb.Open(b.Context(), filepath.Join(b.TempDir(), "w.duckdb"), duckdb.WithMemoryLimit("1GB"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = w.Close(context.Background()) })
	if err := w.Migrate(b.Context(), e.bySubj["shop.orders.v1.OrderPlaced"]); err != nil {
		b.Fatal(err)
	}
	s := &countingSink{Sink: w}
	benchStart(b, e, s, processor.WithBatch(5000, 8<<20, 100*time.Millisecond))
	pub := newBenchPublisher(b, e)
	for b.Loop() {
		pub.publish(b.Context(), 1000)
		for s.n.Load() < int64(pub.n-10_000) {
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(float64(s.n.Load())/b.Elapsed().Seconds(), "events/s")
}
