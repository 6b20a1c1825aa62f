package collector_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"

	"github.com/hemlabs/hem/collector/collectortest"
)

// TestMeasurePeakHeap measures the heap of 20 concurrent worst-case gRPC
// requests (9 events of 1 MiB of 3-byte unknown fields each) and then 20
// concurrent worst-case HTTP requests (bodies just under the 40 MiB JSON
// limit). It is a measure, not a check: it runs with
// HEM_MEASURE_MEMORY=1 and logs the peaks (the in-process Pub/Sub fake
// keeps what was published, so the figures include it).
func TestMeasurePeakHeap(t *testing.T) {
	if os.Getenv("HEM_MEASURE_MEMORY") == "" {
		t.Skip("set HEM_MEASURE_MEMORY=1 to measure")
	}
	st := start(t)
	c := dial(t, st.Addr)
	measure := func(name string, run func()) {
		runtime.GC()
		base := heapObjects()
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if h := heapObjects(); h > peak.Load() {
					peak.Store(h)
				}
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		}()
		begin := time.Now()
		run()
		close(stop)
		<-done
		t.Logf("%s: heap before %d MiB, peak %d MiB (+%d MiB), %v", name, base>>20, peak.Load()>>20, (peak.Load()-base)>>20, time.Since(begin).Round(time.Millisecond))
	}
	payload := unknownFields(1 << 20)
	measure("20 gRPC requests of 9 x 1 MiB unknown fields", func() {
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				var evs []*eventv1.Event
				for j := range 9 {
					evs = append(evs, rawEvent(fmt.Sprintf("g%d-%d", i, j), "shop.orders.v1.OrderPlaced", payload))
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				resp, err := c.Collect(withKey(ctx, collectortest.APIKey), &collectorv1.CollectRequest{Events: evs})
				if err != nil {
					t.Logf("gRPC %d: %v", i, err)
					return
				}
				if s := resp.GetResults()[0].GetStatus(); s != collectorv1.EventStatus_EVENT_STATUS_REJECTED {
					t.Logf("gRPC %d: %v", i, s)
				}
			})
		}
		wg.Wait()
	})
	// 39 events whose member id is a 1,000,000-character string: valid
	// JSON the decoder must read in full.
	big := strings.Repeat("a", 1_000_000)
	var evs []string
	for j := range 39 {
		evs = append(evs, fmt.Sprintf(`{"eventId": "h%d", "payload": {"@type": "type.googleapis.com/shop.orders.v1.OrderPlaced", "memberId": %q}}`, j, big))
	}
	body := `{"events": [` + strings.Join(evs, ",") + `]}`
	measure(fmt.Sprintf("20 HTTP requests of %d MB", len(body)/1_000_000), func() {
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodPost, "http://"+st.HTTPAddr+"/v1/events", strings.NewReader(body))
				req.Header.Set("X-Api-Key", collectortest.APIKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Logf("HTTP %d: %v", i, err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Logf("HTTP %d: %d", i, resp.StatusCode)
				}
			})
		}
		wg.Wait()
	})
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
