package collector_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hemlabs/hem/collector/collectortest"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// BenchmarkCollectGRPC is end to end over gRPC: batches of 100 OrderPlaced
// (5 line items) from 4 concurrent producers into pstest, each answered
// after Pub/Sub confirmed it. It reports events/s and the p99 batch
// latency. pstest runs in the same process and takes a good share of the
// CPU, so this understates what the collector alone can do.
func BenchmarkCollectGRPC(b *testing.B) {
	st := start(b)
	c := dial(b, st.Addr)
	const batch, producers = 100, 4
	events := make([]*eventv1.Event, batch)
	for i := range events {
		events[i] = event(b, "", orderPlaced(5))
	}
	ctx := withKey(b.Context(), collectortest.APIKey)
	var (
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.ReportAllocs()
	b.SetParallelism(producers) // producers goroutines per GOMAXPROCS
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			t0 := time.Now()
			resp, err := c.Collect(ctx, &collectorv1.CollectRequest{Events: events})
			if err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
			for _, r := range resp.GetResults() {
				if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
					b.Errorf("%v %s", r.GetStatus(), r.GetMessage())
					return
				}
			}
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	if len(latencies) > 0 {
		slices.Sort(latencies)
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms/batch")
	}
	st.PubSub.ClearMessages() // pstest keeps every message
}
