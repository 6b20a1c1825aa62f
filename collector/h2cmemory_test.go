package collector_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// serveShared serves st's collector on one h2c port as `hem collector
// serve` does when --listen equals --http-listen (Cloud Run), and returns
// its address.
func serveShared(t testing.TB, st *collectortest.Stack) string {
	t.Helper()
	gs := grpc.NewServer(st.Collector.GRPCServerOptions()...)
	st.Collector.RegisterGRPC(gs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sharedHandler(st.Collector, gs), ReadHeaderTimeout: 10 * time.Second}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		gs.Stop()
	})
	return ln.Addr().String()
}

func sharedHandler(c *collector.Collector, gs *grpc.Server) http.Handler {
	return c.GRPCAndHTTP(gs, c.HTTPHandler())
}

// On the shared h2c port, too, twenty concurrent large gRPC requests grow
// the heap by no more than the in-flight budget and a little: a request's
// bytes are charged as they arrive, not buffered whole before the codec
// charges them (gRPC's ServeHTTP reads each body in full as it comes).
func TestH2CWorstRequestsStayInTheBudget(t *testing.T) {
	const (
		size   = 8 << 20
		budget = 32 << 20
		n      = 20
	)
	st := start(t, collector.WithMaxInflightBytes(budget))
	conn := rawConn(t, serveShared(t, st))
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	for _, w := range worstRequests[1:] { // cheap to refuse; what matters is the bytes before the codec
		req := w.build(size)
		var seen map[string]int
		grew := peakHeapGrowth(func() { seen = concurrently(t, conn, req, n) })
		t.Logf("%s: %d requests of %d bytes: heap +%d MiB, answers %v", w.name, n, len(req), grew>>20, seen)
		if limit := uint64(budget + 24<<20); grew > limit {
			t.Errorf("%s: heap grew by %d MiB, want at most %d MiB", w.name, grew>>20, limit>>20)
		}
		if seen[codes.InvalidArgument.String()] == 0 {
			t.Errorf("%s: no request was refused as too large: %v", w.name, seen)
		}
		for k := range seen {
			switch k {
			case codes.ResourceExhausted.String(), codes.InvalidArgument.String():
			default:
				t.Errorf("%s: %d answers %s", w.name, seen[k], k)
			}
		}
	}
}

// TestMeasureH2CPeakHeap is TestMeasureGRPCPeakHeap on the shared h2c
// port: HEM_MEASURE_CONCURRENCY (default 20) concurrent 10 MiB requests
// of each worst kind at the default limits. Run one kind at a time for
// the process's peak RSS of that kind, with GOMEMLIMIT as on Cloud Run.
func TestMeasureH2CPeakHeap(t *testing.T) {
	if os.Getenv("HEM_MEASURE_MEMORY") == "" {
		t.Skip("set HEM_MEASURE_MEMORY=1 to measure")
	}
	n := 20
	if v, err := strconv.Atoi(os.Getenv("HEM_MEASURE_CONCURRENCY")); err == nil {
		n = v
	}
	st := start(t)
	conn := rawConn(t, serveShared(t, st))
	for _, w := range worstRequests {
		t.Run(w.name, func(t *testing.T) {
			req := w.build(10 << 20)
			var seen map[string]int
			begin := time.Now()
			grew := peakHeapGrowth(func() { seen = concurrently(t, conn, req, n) })
			t.Logf("%d requests of %d bytes: heap +%d MiB, %v, answers %v", n, len(req), grew>>20, time.Since(begin).Round(time.Millisecond), seen)
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

// The shared port serves Collect, CollectStream and the health service as
// gRPC's own port does, and gives back every charge: afterwards a request
// that needs the whole in-flight budget is accepted.
func TestH2CServesAndGivesBack(t *testing.T) {
	t.Parallel()
	const budget = 4 << 20
	st := start(t, collector.WithLimits(collector.Limits{MaxBatchBytes: 1 << 20}), collector.WithMaxInflightBytes(budget))
	addr := serveShared(t, st)
	c := dial(t, addr)
	for range 3 {
		if r := mustCollect(t, c, event(t, "", orderPlaced(1)))[0]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("Collect: %v", r)
		}
	}
	stream, err := c.CollectStream(withKey(t.Context(), collectortest.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	for seq := range uint64(3) {
		if err := stream.Send(&collectorv1.CollectStreamRequest{Sequence: seq, Events: []*eventv1.Event{event(t, "", orderPlaced(1))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		resp, err := stream.Recv()
		if err != nil || resp.GetResults()[0].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("CollectStream: %v, %v", resp, err)
		}
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("CollectStream ended with %v", err)
	}
	if _, err := collect(t, c, "not-a-key", event(t, "", orderPlaced(1))); status.Code(err) != codes.Unauthenticated {
		t.Errorf("without a key: %v, want UNAUTHENTICATED", err)
	}
	if resp, err := healthpb.NewHealthClient(rawConn(t, addr)).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health: %v, %v", resp, err)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	// Charged at five times its size: all of the budget.
	o := orderPlaced(1)
	o.Labels = map[string]string{}
	for i := range 8200 {
		o.Labels[fmt.Sprintf("l%06d", i)] = strings.Repeat("v", 100)
	}
	if n := proto.Size(o); n < budget/5 || n > 1<<20 {
		t.Fatalf("the payload has %d bytes", n)
	}
	if r := mustCollect(t, c, event(t, "", o))[0]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
		t.Fatalf("a request of all of the budget after the others: %v", r)
	}
}

// On the shared port a producer whose requests' bodies arrive slowly holds
// no more of the budget than its share: its messages are charged before
// they are read, so a further request of it is refused RESOURCE_EXHAUSTED
// while another producer's is served.
func TestH2CSlowBodiesHoldOnlyTheirShare(t *testing.T) {
	t.Parallel()
	const msg = 1 << 20
	st := start(t, collector.WithLimits(collector.Limits{MaxBatchBytes: msg}), collector.WithMaxInflightBytes(32<<20))
	st.Keyring.Add("hog", auth.Principal{Name: "hog", Types: []string{"*"}, Quota: auth.Quota{InflightShare: 0.5}})
	addr := serveShared(t, st)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	// Three requests of 1 MiB that send their first bytes and stall:
	// charged 5 MiB each, most of the hog's 16 MiB share.
	for range 3 {
		pr, pw := io.Pipe()
		defer pw.Close()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+collectorv1.CollectorService_Collect_FullMethodName, pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
		req.Header.Set(auth.APIKeyHeader, "hog")
		go func() {
			if resp, err := tr.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
		}()
		prefix := binary.BigEndian.AppendUint32([]byte{0}, msg)
		if _, err := pw.Write(append(prefix, make([]byte, 1000)...)); err != nil {
			t.Fatal(err)
		}
	}
	conn := rawConn(t, addr)
	probe := worstRequests[1].build(512 << 10)
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err = rawCollectAs(t, conn, "hog", probe); status.Code(err) == codes.ResourceExhausted {
			break
		}
	}
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "quota") || retryInfo(err) <= 0 {
		t.Errorf("the hog's next request: %v, want RESOURCE_EXHAUSTED over its quota with a delay", err)
	}
	if r := mustCollect(t, dial(t, addr), event(t, "", orderPlaced(1)))[0]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
		t.Errorf("another producer while the hog holds its share: %v", r)
	}
	// A stream's batch that is refused unread ends the stream: its events
	// are unknown, so they cannot be answered RETRY one by one.
	stream, err := collectorv1.NewCollectorServiceClient(conn).CollectStream(withKey(t.Context(), "hog"))
	if err != nil {
		t.Fatal(err)
	}
	o := orderPlaced(1)
	o.Labels = map[string]string{}
	for i := range 2000 {
		o.Labels[fmt.Sprintf("l%06d", i)] = strings.Repeat("v", 100)
	}
	if err := stream.Send(&collectorv1.CollectStreamRequest{Sequence: 1, Events: []*eventv1.Event{event(t, "", o)}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); status.Code(err) != codes.ResourceExhausted || retryInfo(err) <= 0 {
		t.Errorf("the hog's stream: %v, %v; want RESOURCE_EXHAUSTED with a delay", resp, err)
	}
}

// rawCollectAs sends the encoded CollectRequest req with key.
func rawCollectAs(t *testing.T, conn *grpc.ClientConn, key string, req []byte) (*collectorv1.CollectResponse, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	resp := new(collectorv1.CollectResponse)
	err := conn.Invoke(withKey(ctx, key), collectorv1.CollectorService_Collect_FullMethodName, &req, resp, grpc.ForceCodecV2(rawCodec{}))
	return resp, err
}
