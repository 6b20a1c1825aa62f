package collector_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// rawCodec sends a request that is already encoded (a *[]byte), so a test
// can send what no generated client would build, at the cost of its bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

func (rawCodec) Name() string { return "proto" }

// rawCollect sends the encoded CollectRequest req.
func rawCollect(ctx context.Context, conn *grpc.ClientConn, req []byte) (*collectorv1.CollectResponse, error) {
	resp := new(collectorv1.CollectResponse)
	err := conn.Invoke(withKey(ctx, collectortest.APIKey), collectorv1.CollectorService_Collect_FullMethodName, &req, resp, grpc.ForceCodecV2(rawCodec{}))
	return resp, err
}

// The worst requests of n bytes, encoded: each costs the collector far
// more than its size to decode or process.
var worstRequests = []struct {
	name  string
	build func(n int) []byte
}{
	{"events of 1 MiB of 3-byte unknown fields", func(n int) []byte {
		var evs []*eventv1.Event
		for i := 0; (i+1)<<20 < n || i == 0; i++ {
			evs = append(evs, rawEvent(fmt.Sprintf("u%d", i), "shop.orders.v1.OrderPlaced", unknownFields(1<<20-64)))
		}
		b, _ := proto.Marshal(&collectorv1.CollectRequest{Events: evs})
		return b
	}},
	{"empty events of 2 bytes", func(n int) []byte {
		var b []byte
		for len(b)+2 <= n {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendVarint(b, 0)
		}
		return b
	}},
	{"one event of 7-byte attributes", func(n int) []byte {
		var ev []byte
		for i := 0; len(ev)+16 <= n; i++ {
			var entry []byte
			entry = protowire.AppendTag(entry, 1, protowire.BytesType)
			entry = protowire.AppendString(entry, fmt.Sprintf("%x", i))
			ev = protowire.AppendTag(ev, 4, protowire.BytesType)
			ev = protowire.AppendBytes(ev, entry)
		}
		b := protowire.AppendTag(nil, 1, protowire.BytesType)
		return protowire.AppendBytes(b, ev)
	}},
}

// peakHeapGrowth runs run and returns how far the heap's objects grew
// above what they were before it, sampled every millisecond.
func peakHeapGrowth(run func()) uint64 {
	runtime.GC()
	base := heapObjects()
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if h := heapObjects(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	run()
	close(stop)
	<-done
	return max(peak.Load(), base) - base
}

// concurrently sends req n times at once and returns the answers' codes
// and events' statuses, counted.
func concurrently(t *testing.T, conn *grpc.ClientConn, req []byte, n int) map[string]int {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			resp, err := rawCollect(ctx, conn, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				seen[status.Code(err).String()]++
				return
			}
			for _, r := range resp.GetResults() {
				seen[r.GetStatus().String()]++
			}
		})
	}
	wg.Wait()
	return seen
}

func rawConn(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Twenty concurrent gRPC requests of the worst kinds grow the collector's
// heap by no more than its in-flight budget plus what was sent (and what
// the in-process Pub/Sub keeps of it): each is charged before it is
// decoded, at a multiple of its size, and one that would decode into far
// more than its bytes is refused undecoded.
func TestGRPCWorstRequestsStayInTheBudget(t *testing.T) {
	const (
		size   = 1 << 20
		budget = 32 << 20
		n      = 20
	)
	st := start(t, collector.WithMaxInflightBytes(budget))
	conn := rawConn(t, st.Addr)
	// A low GC target, so the heap follows what is live.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	for _, w := range worstRequests {
		req := w.build(size)
		var seen map[string]int
		grew := peakHeapGrowth(func() { seen = concurrently(t, conn, req, n) })
		t.Logf("%s: %d requests of %d bytes: heap +%d MiB, answers %v", w.name, n, len(req), grew>>20, seen)
		if limit := uint64(budget + 2*n*size + 16<<20); grew > limit {
			t.Errorf("%s: heap grew by %d MiB, want at most %d MiB", w.name, grew>>20, limit>>20)
		}
		for k := range seen {
			switch k {
			case codes.ResourceExhausted.String(), codes.InvalidArgument.String(), "EVENT_STATUS_REJECTED":
			default:
				t.Errorf("%s: %d answers %s", w.name, seen[k], k)
			}
		}
	}
}

// A request holding more events, or more attributes in all, than the
// limits allow is refused as too large, however few its bytes.
func TestGRPCTooManyEventsRefusedUndecoded(t *testing.T) {
	t.Parallel()
	st := start(t)
	conn := rawConn(t, st.Addr)
	for i, want := range map[int]string{1: "events, the limit is 1000 per request", 2: "attributes in all, the limit is 50000 per request"} {
		w := worstRequests[i]
		_, err := rawCollect(t.Context(), conn, w.build(1<<20))
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), want) {
			t.Errorf("%s: %v, want INVALID_ARGUMENT, %s", w.name, err, want)
		}
	}
}

// TestMeasureGRPCPeakHeap measures the heap of 20 concurrent worst-case
// gRPC requests of each kind at the default limits (10 MiB requests, a
// 256 MiB budget). It is a measure, not a check: it runs with
// HEM_MEASURE_MEMORY=1 and logs the peaks (the process holds the clients
// and the in-process Pub/Sub too).
func TestMeasureGRPCPeakHeap(t *testing.T) {
	if os.Getenv("HEM_MEASURE_MEMORY") == "" {
		t.Skip("set HEM_MEASURE_MEMORY=1 to measure")
	}
	st := start(t)
	conn := rawConn(t, st.Addr)
	for _, w := range append(worstRequests, struct {
		name  string
		build func(n int) []byte
	}{"events of the largest valid payloads", func(n int) []byte {
		var evs []*eventv1.Event
		o := orderPlaced(0)
		o.Labels = map[string]string{}
		for i := 0; proto.Size(o) < 1<<20-4096; i++ {
			o.Labels[fmt.Sprintf("l%06d", i)] = strings.Repeat("v", 100)
		}
		for i := 0; (i+1)<<20 < n; i++ {
			evs = append(evs, event(t, fmt.Sprintf("v%d", i), o))
		}
		b, _ := proto.Marshal(&collectorv1.CollectRequest{Events: evs})
		return b
	}}) {
		// Run one kind at a time (-run 'TestMeasureGRPCPeakHeap/valid')
		// for the process's peak RSS of that kind.
		t.Run(w.name, func(t *testing.T) {
			req := w.build(10 << 20)
			var seen map[string]int
			begin := time.Now()
			grew := peakHeapGrowth(func() { seen = concurrently(t, conn, req, 20) })
			t.Logf("20 requests of %d bytes: heap +%d MiB, %v, answers %v", len(req), grew>>20, time.Since(begin).Round(time.Millisecond), seen)
			if b, err := os.ReadFile("/proc/self/status"); err == nil {
				for l := range strings.SplitSeq(string(b), "\n") {
					if strings.HasPrefix(l, "VmHWM") {
						t.Log("peak RSS of the test process:", strings.Join(strings.Fields(l)[1:], " "))
					}
				}
			}
		})
	}
}
