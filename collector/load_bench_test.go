package collector_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/internal/gctune"
)

// helperEnv makes the test binary run as the load helper: pstest and the
// producers live in that process, so the benchmark process is the
// collector alone and its CPU time is the collector's.
const helperEnv = "HEM_COLLECTOR_LOAD_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		if err := loadHelper(); err != nil {
			fmt.Fprintln(os.Stderr, "load helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// loadHelper serves pstest, prints its address, then runs the load
// commands it reads: "LOAD <kind> <collector> <events> <clients>" answers
// "DONE <p99 µs>". The kinds are those of loads.
func loadHelper() error {
	ctx := context.Background()
	srv := pstest.NewServer()
	defer srv.Close()
	for _, topic := range []string{envelope.EventsTopic, envelope.FailedTopic} {
		if _, err := srv.GServer.CreateTopic(ctx, &pubsubpb.Topic{Name: collectortest.TopicName(topic)}); err != nil {
			return err
		}
	}
	fmt.Printf("ADDR %s\n", srv.Addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) != 5 || f[0] != "LOAD" {
			return nil
		}
		events, _ := strconv.Atoi(f[3])
		clients, _ := strconv.Atoi(f[4])
		run, ok := loads[f[1]]
		if !ok {
			return fmt.Errorf("unknown load %q", f[1])
		}
		p99, err := run(ctx, f[2], events, clients)
		if err != nil {
			return err
		}
		srv.ClearMessages() // pstest keeps every message otherwise
		fmt.Printf("DONE %d\n", p99.Microseconds())
	}
	return nil
}

// A load sends events requests from clients goroutines to the collector at
// addr and returns the p99 request latency. The health loads are the
// framework's floor: the same servers, connections and producers, with
// handlers that do no work.
type load func(ctx context.Context, addr string, events, clients int) (time.Duration, error)

var loads = map[string]load{
	"grpc":         runLoad,
	"http":         runHTTPLoad,
	"grpc-health":  runHealthLoad,
	"http-healthz": runHealthzLoad,
}

// grpcConns is how many connections the gRPC producers share.
const grpcConns = 16

// runGRPCLoad is a gRPC load: call sends one request with a client made by
// newClient, the API key on its context.
func runGRPCLoad[C any](ctx context.Context, addr string, events, clients int, newClient func(grpc.ClientConnInterface) C, call func(context.Context, C) error) (time.Duration, error) {
	svcs := make([]C, grpcConns)
	for i := range svcs {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		svcs[i] = newClient(conn)
	}
	ctx = withKey(ctx, collectortest.APIKey)
	return drive(events, clients, func(client int) error { return call(ctx, svcs[client%grpcConns]) })
}

// runLoad sends one OrderPlaced per Collect request.
func runLoad(ctx context.Context, addr string, events, clients int) (time.Duration, error) {
	req := &collectorv1.CollectRequest{Events: []*eventv1.Event{{Payload: event(nilTB{}, "", orderPlaced(5)).GetPayload()}}}
	return runGRPCLoad(ctx, addr, events, clients, collectorv1.NewCollectorServiceClient, func(ctx context.Context, svc collectorv1.CollectorServiceClient) error {
		resp, err := svc.Collect(ctx, req)
		if err == nil && resp.GetResults()[0].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			err = fmt.Errorf("%v", resp.GetResults()[0])
		}
		return err
	})
}

// runHealthLoad calls the gRPC health check instead of Collect.
func runHealthLoad(ctx context.Context, addr string, events, clients int) (time.Duration, error) {
	req := &healthpb.HealthCheckRequest{Service: collectorv1.CollectorService_ServiceDesc.ServiceName}
	return runGRPCLoad(ctx, addr, events, clients, healthpb.NewHealthClient, func(ctx context.Context, svc healthpb.HealthClient) error {
		resp, err := svc.Check(ctx, req)
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("health: %v", resp.GetStatus())
		}
		return err
	})
}

// drive sends events requests from clients goroutines, send making one,
// and returns the p99 request latency.
func drive(events, clients int, send func(client int) error) (time.Duration, error) {
	var (
		left  atomic.Int64
		mu    sync.Mutex
		lats  []time.Duration
		first error
		wg    sync.WaitGroup
	)
	left.Store(int64(events))
	for g := range clients {
		wg.Go(func() {
			var local []time.Duration
			for left.Add(-1) >= 0 {
				t0 := time.Now()
				if err := send(g); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	slices.Sort(lats)
	return lats[len(lats)*99/100], nil
}

// runHTTPRequests is an HTTP load over keep-alive connections (at most 64)
// shared by the clients: each request is method on url with body and the
// API key; check judges the answer.
func runHTTPRequests(ctx context.Context, events, clients int, method, url string, body []byte, check func(status int, answer []byte) error) (time.Duration, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: 64}}
	return drive(events, clients, func(int) error {
		req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", collectortest.APIKey)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := check(resp.StatusCode, b); err != nil {
			return fmt.Errorf("%s: %w", resp.Status, err)
		}
		return nil
	})
}

// runHTTPLoad is runLoad over POST /v1/events (protojson).
func runHTTPLoad(ctx context.Context, addr string, events, clients int) (time.Duration, error) {
	payload := event(nilTB{}, "", orderPlaced(5)).GetPayload()
	body, err := protojson.Marshal(&collectorv1.CollectRequest{Events: []*eventv1.Event{{Payload: payload}}})
	if err != nil {
		return 0, err
	}
	return runHTTPRequests(ctx, events, clients, http.MethodPost, "http://"+addr+"/v1/events", body, func(_ int, answer []byte) error {
		var out collectorv1.CollectResponse
		if err := protojson.Unmarshal(answer, &out); err != nil {
			return err
		}
		if len(out.GetResults()) != 1 || out.GetResults()[0].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			return fmt.Errorf("%s", answer)
		}
		return nil
	})
}

// runHealthzLoad is runHTTPLoad with GET /healthz instead of POST /v1/events.
func runHealthzLoad(ctx context.Context, addr string, events, clients int) (time.Duration, error) {
	return runHTTPRequests(ctx, events, clients, http.MethodGet, "http://"+addr+"/healthz", nil, func(status int, answer []byte) error {
		if status != http.StatusOK {
			return fmt.Errorf("%s", answer)
		}
		return nil
	})
}

// nilTB lets the helper reuse the test helpers outside a test.
type nilTB struct{ testing.TB }

func (nilTB) Helper()                  {}
func (nilTB) Fatal(args ...any)        { panic(fmt.Sprint(args...)) }
func (nilTB) Context() context.Context { return context.Background() }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCollect512Clients is 512 concurrent producers sending one
// OrderPlaced (5 line items) per request, over gRPC and over HTTP/JSON. The
// producers and pstest run in a helper process; this process is only the
// collector, so events/collector-cpu-s is what one collector CPU-second
// ingests. grpc-health and http-healthz send the same load to the health
// handlers, which do nothing: what the servers themselves cost per request,
// the ceiling for any collector on them.
func BenchmarkCollect512Clients(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.CommandContext(b.Context(), exe, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "GOGC=100", "GOMEMLIMIT=off")
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	out := bufio.NewScanner(stdout)
	if !out.Scan() || !strings.HasPrefix(out.Text(), "ADDR ") {
		b.Fatalf("helper: %q", out.Text())
	}
	psAddr := strings.TrimPrefix(out.Text(), "ADDR ")

	schemas, err := collectortest.NewSchemas(b.Context(), "../proto")
	if err != nil {
		b.Fatal(err)
	}
	// As "hem collector serve" connects (PUBSUB_EMULATOR_HOST).
	ps, err := pubsub.NewClient(b.Context(), collectortest.Project, option.WithEndpoint(psAddr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())), envelope.PublishCodec())
	if err != nil {
		b.Fatal(err)
	}
	defer ps.Close()
	// As "hem collector serve" runs: its GC settings, its metrics SDK.
	defer gctune.Apply(gctune.Collector())()
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer meter.Shutdown(context.Background())
	keys := auth.New()
	keys.Add(collectortest.APIKey, auth.Principal{Name: "bench", Types: []string{"*"}})
	col, err := collector.New(schemas, ps, collector.WithKeyring(keys), collector.WithPIISalt([]byte("benchmark-salt-0123456789")),
		collector.WithMeterProvider(meter))
	if err != nil {
		b.Fatal(err)
	}
	defer col.Close(context.Background())
	gs := grpc.NewServer(col.GRPCServerOptions()...)
	col.RegisterGRPC(gs)
	lis, err := netListen()
	if err != nil {
		b.Fatal(err)
	}
	go gs.Serve(lis)
	defer gs.Stop()
	hlis, err := netListen()
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: col.HTTPHandler()}
	go hs.Serve(hlis)
	defer hs.Close()

	for _, kind := range []string{"grpc", "http", "grpc-health", "http-healthz"} {
		addr := lis.Addr().String()
		if strings.HasPrefix(kind, "http") {
			addr = hlis.Addr().String()
		}
		b.Run(kind, func(b *testing.B) {
			n := max(b.N, 512)
			cpu0, t0 := cpuTime(), time.Now()
			fmt.Fprintf(stdin, "LOAD %s %s %d 512\n", kind, addr, n)
			if !out.Scan() || !strings.HasPrefix(out.Text(), "DONE ") {
				b.Fatalf("helper: %q", out.Text())
			}
			wall, cpu := time.Since(t0), cpuTime()-cpu0
			p99, _ := strconv.Atoi(strings.TrimPrefix(out.Text(), "DONE "))
			b.ReportMetric(float64(n)/wall.Seconds(), "events/s")
			b.ReportMetric(float64(n)/cpu.Seconds(), "events/collector-cpu-s")
			b.ReportMetric(float64(p99)/1000, "p99-ms")
		})
	}
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
