package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/contract"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/sink"
)

// serve runs a Service over r on a loopback port and returns its address.
func serve(t testing.TB, r *registry.Registry, opts ...registry.ServiceOption) string {
	t.Helper()
	svc, err := registry.NewService(r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- registry.Serve(ctx, lis, svc) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

func conn(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient(addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func registerRequest(schemas ...*contract.Schema) *registryv1.RegisterRequest {
	// The union of the schemas' descriptor sets; Register splits it again.
	req := &registryv1.RegisterRequest{}
	for _, s := range schemas {
		req.FileDescriptorSet = append(req.FileDescriptorSet, s.DescriptorSet()...)
		req.Subjects = append(req.Subjects, s.Subject)
	}
	return req
}

const (
	ciKey       = "hem_ci_key"
	producerKey = "hem_producer_key"
)

func TestServiceWritesNeedACredential(t *testing.T) {
	t.Parallel()
	keys := auth.New()
	keys.Add(ciKey, auth.Principal{Name: "ci", SchemaWrite: true})
	keys.Add(producerKey, auth.Principal{Name: "checkout", Types: []string{"*"}})
	ring, err := auth.Parse([]byte(`{"keys":[
		{"name":"deployer","service_account":"deployer@p.iam.gserviceaccount.com","schema_write":true},
		{"name":"fleet","service_account":"fleet@p.iam.gserviceaccount.com","types":["*"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{ciKey, producerKey} {
		p, _ := keys.APIKey(k)
		ring.Add(k, *p)
	}
	tokens := registry.TokenVerifierFunc(func(_ context.Context, token string) (string, error) {
		email, ok := strings.CutPrefix(token, "valid-token-for-")
		if !ok {
			return "", errors.New("signature mismatch")
		}
		return email, nil
	})
	r := newRegistry(t, startGCS(t, t.TempDir()))
	api := registryv1.NewRegistryServiceClient(conn(t, serve(t, r, registry.WithKeyring(ring), registry.WithTokenVerifier(tokens))))

	tests := []struct {
		name   string
		md     []string
		dryRun bool
		want   codes.Code
	}{
		{name: "no credential", want: codes.Unauthenticated},
		{name: "unknown key", md: []string{"x-api-key", "hem_guess"}, want: codes.Unauthenticated},
		{name: "key without schema_write", md: []string{"x-api-key", producerKey}, want: codes.PermissionDenied},
		{name: "bad ID token", md: []string{"authorization", "Bearer forged"}, want: codes.Unauthenticated},
		{name: "ID token of an account without schema_write", md: []string{"authorization", "Bearer valid-token-for-fleet@p.iam.gserviceaccount.com"}, want: codes.PermissionDenied},
		{name: "ID token of an unknown account", md: []string{"authorization", "Bearer valid-token-for-eve@p.iam.gserviceaccount.com"}, want: codes.PermissionDenied},
		{name: "dry run needs none", dryRun: true, want: codes.OK},
		{name: "writer key", md: []string{"x-api-key", ciKey}, want: codes.OK},
		{name: "writer ID token", md: []string{"authorization", "Bearer valid-token-for-deployer@p.iam.gserviceaccount.com"}, want: codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := registerRequest(ordersV1{}.schema(t))
			req.DryRun = tt.dryRun
			_, err := api.Register(metadata.AppendToOutgoingContext(t.Context(), tt.md...), req)
			if status.Code(err) != tt.want {
				t.Fatalf("Register: %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("reads are open", func(t *testing.T) {
		t.Parallel()
		if _, err := api.ListSubjects(t.Context(), &registryv1.ListSubjectsRequest{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestServiceLocalWritesWithoutKeys(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	api := registryv1.NewRegistryServiceClient(conn(t, serve(t, r, registry.WithLocalWrites())))
	resp, err := api.Register(t.Context(), registerRequest(ordersV1{}.schema(t)))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetResults()[0]; got.GetOutcome() != registryv1.RegisterOutcome_REGISTER_OUTCOME_NEW || got.GetId() == 0 {
		t.Fatalf("local write: %v", got)
	}
	if _, err := registry.NewService(r, registry.WithLocalWrites(), registry.WithKeyring(withKey())); err == nil {
		t.Fatal("local writes accepted beside a keyring")
	}
}

func withKey() *auth.Keyring {
	k := auth.New()
	k.Add(ciKey, auth.Principal{Name: "ci", SchemaWrite: true})
	return k
}

func TestServiceRegisterOutcomes(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	c := registry.NewClient(conn(t, serve(t, r, registry.WithKeyring(withKey()))), registry.WithAPIKey(ciKey))
	ctx := t.Context()

	// Every event message of the set when no subject is named, in order.
	both := registerRequest(ordersV1{pkg: "acme.orders.v2"}.schema(t), ordersV1{}.schema(t))
	both.Subjects = nil
	resp, err := c.Register(ctx, both)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, res := range resp.GetResults() {
		got = append(got, res.GetSubject()+" "+res.GetOutcome().String())
	}
	want := []string{"acme.orders.v1.OrderPlaced REGISTER_OUTCOME_NEW", "acme.orders.v2.OrderPlaced REGISTER_OUTCOME_NEW"}
	if !slices.Equal(got, want) {
		t.Fatalf("results %v, want %v", got, want)
	}

	// A rejection is an answer, not an error.
	bad := ordersV1{fields: strings.Replace(baseFields, "int32 quantity = 2", "int64 quantity = 2", 1)}.schema(t)
	resp, err = c.Register(ctx, registerRequest(bad))
	if err != nil {
		t.Fatalf("rejected schema came back as error %v", err)
	}
	res := resp.GetResults()[0]
	if res.GetOutcome() != registryv1.RegisterOutcome_REGISTER_OUTCOME_REJECTED || len(res.GetViolations()) == 0 || res.GetId() != 0 {
		t.Fatalf("breaking change: %v", res)
	}
	v := res.GetViolations()[0]
	if v.GetRuleId() != "EV-W06" || v.GetPath() != "acme.orders.v1.OrderPlaced.quantity" || v.GetMessage() == "" {
		t.Errorf("violation %v", v)
	}
}

func TestServiceErrorCodes(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	api := registryv1.NewRegistryServiceClient(conn(t, serve(t, r, registry.WithLocalWrites())))
	if _, err := api.Register(t.Context(), registerRequest(ordersV1{}.schema(t))); err != nil {
		t.Fatal(err)
	}
	notEvent := registerRequest(ordersV1{}.schema(t))
	notEvent.Subjects = []string{"google.protobuf.Timestamp"}
	tests := []struct {
		name string
		call func(ctx context.Context) error
		want codes.Code
	}{
		{"unknown id", func(ctx context.Context) error {
			_, err := api.GetSchema(ctx, &registryv1.GetSchemaRequest{Id: 404})
			return err
		}, codes.NotFound},
		{"unknown subject", func(ctx context.Context) error {
			_, err := api.GetSchema(ctx, &registryv1.GetSchemaRequest{Subject: "acme.nope.v1.Nope"})
			return err
		}, codes.NotFound},
		{"unknown version", func(ctx context.Context) error {
			_, err := api.GetSchema(ctx, &registryv1.GetSchemaRequest{Subject: ordersV1{}.subject(), Version: 7})
			return err
		}, codes.NotFound},
		{"empty request", func(ctx context.Context) error {
			_, err := api.GetSchema(ctx, &registryv1.GetSchemaRequest{})
			return err
		}, codes.InvalidArgument},
		{"versions of nothing", func(ctx context.Context) error {
			_, err := api.ListVersions(ctx, &registryv1.ListVersionsRequest{})
			return err
		}, codes.InvalidArgument},
		{"garbage descriptor set", func(ctx context.Context) error {
			_, err := api.Register(ctx, &registryv1.RegisterRequest{FileDescriptorSet: []byte("not a descriptor set")})
			return err
		}, codes.InvalidArgument},
		{"subject not in the set", func(ctx context.Context) error {
			req := registerRequest(ordersV1{}.schema(t))
			req.Subjects = []string{"acme.orders.v1.Missing"}
			_, err := api.Register(ctx, req)
			return err
		}, codes.InvalidArgument},
		{"not an event", func(ctx context.Context) error {
			_, err := api.Register(ctx, notEvent)
			return err
		}, codes.InvalidArgument},
		{"reserved subject", func(ctx context.Context) error {
			_, err := api.Register(ctx, registerRequest(contract.FailedEventSchema()))
			return err
		}, codes.InvalidArgument},
		{"deadline", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
			defer cancel()
			<-ctx.Done()
			_, err := api.GetSchema(ctx, &registryv1.GetSchemaRequest{Id: 1})
			return err
		}, codes.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.call(t.Context()); status.Code(err) != tt.want {
				t.Fatalf("%v, want %v", err, tt.want)
			}
		})
	}
}

func TestServiceWatchDeliversNewVersions(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	api := registryv1.NewRegistryServiceClient(conn(t, serve(t, r, registry.WithLocalWrites())))
	v1 := register(t, r, ordersV1{}.schema(t))[0]

	stream, err := api.Watch(t.Context(), &registryv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.Recv()
	if err != nil || msg.GetSchema().GetId() != v1.Schema.ID || len(msg.GetSchema().GetFileDescriptorSet()) == 0 {
		t.Fatalf("first: %v %v", msg, err)
	}
	resp, err := api.Register(t.Context(), registerRequest(ordersV1{fields: baseFields + "  optional string note = 5;\n"}.schema(t)))
	if err != nil {
		t.Fatal(err)
	}
	msg, err = stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	got, err := contract.FromProto(msg.GetSchema())
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != resp.GetResults()[0].GetId() || got.Version != 2 || got.State != contract.Usable || got.Descriptor().Fields().ByName("note") == nil {
		t.Fatalf("watched id %d v%d %s", got.ID, got.Version, got.State)
	}

	// Starting after the newest id sends nothing old.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	late, err := api.Watch(ctx, &registryv1.WatchRequest{AfterId: got.ID})
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := late.Recv(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("after the newest id: %v %v", msg, err)
	}
}

func TestServeHealthAndGracefulStop(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	svc, err := registry.NewService(r)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- registry.Serve(ctx, lis, svc) }()
	cc := conn(t, lis.Addr().String())
	h, err := healthpb.NewHealthClient(cc).Check(t.Context(), &healthpb.HealthCheckRequest{Service: registryv1.RegistryService_ServiceDesc.ServiceName})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
	// An open Watch stream must not hold up shutdown.
	stream, err := registryv1.NewRegistryServiceClient(cc).Watch(t.Context(), &registryv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the stream reach the server
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if _, err := stream.Recv(); err == nil {
		t.Error("watch stream still open after shutdown")
	}
}

// callCounter counts GetSchema calls that reach the wire.
type callCounter struct{ n atomic.Int64 }

func (c *callCounter) interceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if method == registryv1.RegistryService_GetSchema_FullMethodName {
		c.n.Add(1)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func TestClientCaches(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	v1 := register(t, r, ordersV1{}.schema(t))[0]
	addr := serve(t, r, registry.WithLocalWrites())
	var calls callCounter
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	c, err := registry.Dial(t.Context(), addr,
		registry.WithDialOptions(grpc.WithUnaryInterceptor(calls.interceptor)),
		registry.WithLatestTTL(time.Minute), registry.WithClientClock(now))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()

	t.Run("by id", func(t *testing.T) {
		before := calls.n.Load()
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				s, err := c.ByID(ctx, v1.Schema.ID)
				if err != nil || s.Fingerprint() != v1.Schema.Fingerprint() {
					t.Errorf("ByID: %v %v", s, err)
				}
			})
		}
		wg.Wait()
		if n := calls.n.Load() - before; n != 1 {
			t.Errorf("20 lookups of one id made %d calls, want 1", n)
		}
	})
	t.Run("unknown id is not cached", func(t *testing.T) {
		before := calls.n.Load()
		for range 2 {
			if _, err := c.ByID(ctx, 999); !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("ByID(999): %v, want ErrNotFound", err)
			}
		}
		if n := calls.n.Load() - before; n != 2 {
			t.Errorf("2 misses made %d calls, want 2", n)
		}
	})
	t.Run("latest within TTL", func(t *testing.T) {
		before := calls.n.Load()
		for range 3 {
			if s, err := c.Latest(ctx, v1.Subject); err != nil || s.ID != v1.Schema.ID {
				t.Fatalf("Latest: %v %v", s, err)
			}
		}
		if n := calls.n.Load() - before; n != 1 {
			t.Errorf("3 Latest calls within the TTL made %d calls, want 1", n)
		}
		v2 := register(t, r, ordersV1{fields: baseFields + "  optional string note = 5;\n"}.schema(t))[0]
		if s, _ := c.Latest(ctx, v1.Subject); s.ID != v1.Schema.ID {
			t.Fatalf("Latest within the TTL changed to %d", s.ID)
		}
		clock.Add(int64(time.Minute))
		if s, err := c.Latest(ctx, v1.Subject); err != nil || s.ID != v2.Schema.ID {
			t.Fatalf("Latest after the TTL: %v %v, want id %d", s, err, v2.Schema.ID)
		}
		if n := calls.n.Load() - before; n != 2 {
			t.Errorf("made %d calls, want 2", n)
		}
	})
	t.Run("version", func(t *testing.T) {
		before := calls.n.Load()
		for range 2 {
			if s, err := c.Version(ctx, v1.Subject, 1); err != nil || s.ID != v1.Schema.ID {
				t.Fatalf("Version: %v %v", s, err)
			}
		}
		if n := calls.n.Load() - before; n > 1 {
			t.Errorf("made %d calls, want at most 1", n)
		}
	})
}

func TestClientWatchRefreshesLatest(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	v1 := register(t, r, ordersV1{}.schema(t))[0]
	var calls callCounter
	c := registry.NewClient(conn(t, serve(t, r), grpc.WithUnaryInterceptor(calls.interceptor)), registry.WithLatestTTL(time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx) }()

	if s, err := c.Latest(t.Context(), v1.Subject); err != nil || s.Version != 1 {
		t.Fatalf("Latest: %v %v", s, err)
	}
	v2 := register(t, r, ordersV1{fields: baseFields + "  optional string note = 5;\n"}.schema(t))[0]
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := c.Latest(t.Context(), v1.Subject)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID == v2.Schema.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Watch never refreshed Latest")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The new version also arrived by id without a call.
	before := calls.n.Load()
	if _, err := c.ByID(t.Context(), v2.Schema.ID); err != nil {
		t.Fatal(err)
	}
	if calls.n.Load() != before {
		t.Error("ByID of a watched version called the server")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch: %v", err)
	}
}

func BenchmarkClientByIDCached(b *testing.B) {
	r := newRegistry(b, startGCS(b, b.TempDir()))
	id := register(b, r, ordersV1{}.schema(b))[0].Schema.ID
	c := registry.NewClient(conn(b, serve(b, r)))
	if _, err := c.ByID(context.Background(), id); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.ByID(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.ByID(ctx, id); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func TestClientLatestServesStaleWhenRegistryIsDown(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	v1 := register(t, r, ordersV1{}.schema(t))[0]
	svc, err := registry.NewService(r)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- registry.Serve(ctx, lis, svc) }()

	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	c := registry.NewClient(conn(t, lis.Addr().String()), registry.WithLatestTTL(time.Second),
		registry.WithClientClock(func() time.Time { return time.Unix(0, clock.Load()) }))
	if s, err := c.Latest(t.Context(), v1.Subject); err != nil || s.ID != v1.Schema.ID {
		t.Fatalf("Latest: %v %v", s, err)
	}
	stop()
	<-done
	clock.Add(int64(time.Hour))
	callCtx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if s, err := c.Latest(callCtx, v1.Subject); err != nil || s.ID != v1.Schema.ID {
		t.Fatalf("Latest with the registry down: %v %v, want the cached version", s, err)
	}
	if _, err := c.Latest(callCtx, "acme.other.v1.Other"); err == nil {
		t.Fatal("Latest of an uncached subject with the registry down succeeded")
	}
}

func BenchmarkClientLatestCached(b *testing.B) {
	r := newRegistry(b, startGCS(b, b.TempDir()))
	subject := register(b, r, ordersV1{}.schema(b))[0].Subject
	c := registry.NewClient(conn(b, serve(b, r)), registry.WithLatestTTL(time.Hour))
	ctx := context.Background()
	if _, err := c.Latest(ctx, subject); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Latest(ctx, subject); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// A contract that ships its own google/protobuf/timestamp.proto is refused
// at admission, naming the file: hem would read its events with the real
// Timestamp, and every one of them would fail.
func TestServiceRefusesAForgedWellKnownFile(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	c := registry.NewClient(conn(t, serve(t, r, registry.WithKeyring(withKey()))), registry.WithAPIKey(ciKey))
	src, err := contract.CompileSources(t.Context(), map[string]string{
		"google/protobuf/timestamp.proto": `syntax = "proto3";
package google.protobuf;
message Timestamp { string seconds = 1; }
`,
		"acme/orders/v1/orders.proto": `syntax = "proto3";
package acme.orders.v1;
import "google/protobuf/timestamp.proto";
import "hem/options/v1/options.proto";
message OrderPlaced {
  option (hem.options.v1.event) = {};
  string order_id = 1;
  google.protobuf.Timestamp at = 2;
}
`})
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema("acme.orders.v1.OrderPlaced")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Register(t.Context(), registerRequest(s))
	if err != nil {
		t.Fatal(err)
	}
	res := resp.GetResults()[0]
	if res.GetOutcome() != registryv1.RegisterOutcome_REGISTER_OUTCOME_REJECTED {
		t.Fatalf("a forged timestamp.proto was %v", res.GetOutcome())
	}
	for _, v := range res.GetViolations() {
		if v.GetRuleId() == "EV-L11" && v.GetPath() == "google/protobuf/timestamp.proto" && strings.Contains(v.GetMessage(), "google/protobuf/timestamp.proto") {
			return
		}
	}
	t.Fatalf("no EV-L11 naming google/protobuf/timestamp.proto: %v", res.GetViolations())
}

// TestServiceMigrationFailures: a sink's migration that can never succeed
// (sink.Permanent) refuses the push for good; any other failure asks the
// pusher to retry.
func TestServiceMigrationFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"permanent", sink.Permanentf("column note: type STRING cannot become INT64"), codes.FailedPrecondition},
		{"permanent, wrapped", fmt.Errorf("duckdb: %w", sink.Permanentf("table name too long")), codes.FailedPrecondition},
		{"transient", errors.New("warehouse unavailable"), codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			failing := registry.MigratorFunc(func(context.Context, *contract.Schema) error { return tt.err })
			r := newRegistry(t, startGCS(t, t.TempDir()), registry.WithMigrator(failing))
			api := registryv1.NewRegistryServiceClient(conn(t, serve(t, r, registry.WithLocalWrites())))
			_, err := api.Register(t.Context(), registerRequest(ordersV1{}.schema(t)))
			if status.Code(err) != tt.want || !strings.Contains(err.Error(), tt.err.Error()) {
				t.Fatalf("push with a migration failing with %q: %v, want %v naming the cause", tt.err, err, tt.want)
			}
		})
	}
}
