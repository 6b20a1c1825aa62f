package client_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hemlabs/hem/client"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
)

// quotaCollector refuses the first call with RESOURCE_EXHAUSTED and a
// RetryInfo of delay, then accepts everything; it records when calls came.
type quotaCollector struct {
	collectorv1.UnimplementedCollectorServiceServer
	delay time.Duration
	mu    sync.Mutex
	calls []time.Time
}

func (q *quotaCollector) Collect(_ context.Context, req *collectorv1.CollectRequest) (*collectorv1.CollectResponse, error) {
	q.mu.Lock()
	q.calls = append(q.calls, time.Now())
	first := len(q.calls) == 1
	q.mu.Unlock()
	if first {
		st, err := status.New(codes.ResourceExhausted, "producer quota exceeded").
			WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(q.delay)})
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	}
	resp := &collectorv1.CollectResponse{}
	for _, e := range req.GetEvents() {
		resp.Results = append(resp.Results, &collectorv1.EventResult{EventId: e.GetEventId(), Status: collectorv1.EventStatus_EVENT_STATUS_ACCEPTED})
	}
	return resp, nil
}

// A refusal with RetryInfo is retried no sooner than the delay it asks for,
// although the client's own backoff is a millisecond.
func TestClientWaitsTheRetryDelay(t *testing.T) {
	t.Parallel()
	const delay = 700 * time.Millisecond
	fake := &quotaCollector{delay: delay}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	collectorv1.RegisterCollectorServiceServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	c := newClient(t, lis.Addr().String(), client.WithRetry(5, time.Millisecond), client.WithBatchDelay(time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := c.Emit(ctx, order(1)).Get(ctx); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.calls) != 2 {
		t.Fatalf("%d calls, want 2", len(fake.calls))
	}
	if gap := fake.calls[1].Sub(fake.calls[0]); gap < delay {
		t.Errorf("retried after %v, before the %v the collector asked for", gap, delay)
	}
}
