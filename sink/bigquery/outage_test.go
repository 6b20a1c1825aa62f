package bigquery_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/bigquery"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
	"github.com/hemlabs/hem/sink/sinktest"
)

// openSink is newSink without the cleanup: the test closes the sink itself.
func openSink(t *testing.T, cfg bigquery.Config, opts ...bigquerytest.Option) (*bigquery.Sink, *bigquerytest.Server) {
	t.Helper()
	srv, err := bigquerytest.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg.Project, cfg.Dataset = project, dataset
	cfg.Endpoint, cfg.WriteEndpoint = srv.RESTEndpoint(), srv.WriteEndpoint()
	s, err := bigquery.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

// within runs f and fails the test if it has not returned after d.
func within[T any](t *testing.T, d time.Duration, what string, f func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- f() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("%s had not returned after %v", what, d)
		panic("unreachable")
	}
}

// A clean Close after successful writes is a success: the library's io.EOF
// for a stream closed in good order is not an error.
func TestCloseAfterWritesIsClean(t *testing.T) {
	t.Parallel()
	s, srv := openSink(t, bigquery.Config{})
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	if err := s.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: sinktest.Events(t, placed, 3)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close after a successful write: %v", err)
	}
	if got := rowCount(t, srv, placed.Subject); got != 3 {
		t.Fatalf("%d rows, want 3", got)
	}
}

// While BigQuery cannot be reached a write fails within seconds with a
// retryable error (so the processor nacks and logs it), Health says why,
// and once BigQuery is back writes go through again.
func TestOutageFailsWritesFast(t *testing.T) {
	t.Parallel()
	s, srv := newSink(t, bigquery.Config{})
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	write := func(ctx context.Context, n int) error {
		return s.Write(ctx, &sink.Batch{Subject: placed.Subject, Events: sinktest.Events(t, placed, n)})
	}
	if err := write(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	srv.SetReachable(false)
	for range 2 { // the write that meets the outage, and one after it
		start := time.Now()
		err := within(t, 15*time.Second, "a write during the outage", func() error { return write(t.Context(), 2) })
		if err == nil || sink.IsPermanent(err) || !errors.Is(err, bigquery.ErrUnavailable) {
			t.Fatalf("write during the outage: %v, want a retryable ErrUnavailable", err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("the write took %v to fail", took)
		}
		t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	if err := s.Health(); !errors.Is(err, bigquery.ErrUnavailable) {
		t.Fatalf("Health during the outage: %v", err)
	}
	srv.SetReachable(true)
	back := time.Now()
	deadline := back.Add(45 * time.Second)
	for {
		err := write(t.Context(), 2)
		if err == nil {
			t.Logf("writes went through again %v after BigQuery came back", time.Since(back).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail after BigQuery came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := s.Health(); err != nil {
		t.Fatalf("Health after the outage: %v", err)
	}
}

// A write that must open a new stream (here: the first of a table)
// returns by its deadline while BigQuery cannot be reached.
func TestNewStreamHonoursTheDeadline(t *testing.T) {
	t.Parallel()
	s, srv := newSink(t, bigquery.Config{})
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	if err := s.Migrate(t.Context(), placed); err != nil { // the REST part, while it answers
		t.Fatal(err)
	}
	srv.SetReachable(false)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	err := within(t, 6*time.Second, "a write with a 3s deadline", func() error {
		return s.Write(ctx, &sink.Batch{Subject: placed.Subject, Events: sinktest.Events(t, placed, 1)})
	})
	if err == nil || sink.IsPermanent(err) {
		t.Fatalf("write: %v, want a retryable error", err)
	}
}

// Close returns at once while BigQuery cannot be reached, even with a
// write stuck in the library's reconnect loop.
func TestCloseDuringOutageIsBounded(t *testing.T) {
	t.Parallel()
	s, srv := openSink(t, bigquery.Config{})
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	if err := s.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: sinktest.Events(t, placed, 2)}); err != nil {
		t.Fatal(err)
	}
	srv.SetReachable(false)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_ = s.Write(ctx, &sink.Batch{Subject: placed.Subject, Events: sinktest.Events(t, placed, 2)}) // leaves the library reconnecting
	err := within(t, 5*time.Second, "Close during an outage", func() error { return s.Close(context.Background()) })
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// The server's reason reaches the error even when the library retried the
// refused request and then only saw the connection end (io.EOF).
func TestServerReasonSurvivesRetries(t *testing.T) {
	t.Parallel()
	s, srv := newSink(t, bigquery.Config{})
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	if err := s.Migrate(t.Context(), placed); err != nil {
		t.Fatal(err)
	}
	const reason = "Column delivery_note is not present in table"
	srv.SetAppendFault(func(string) *status.Status { return status.New(codes.Internal, reason) })
	err := s.Write(t.Context(), &sink.Batch{Subject: placed.Subject, Events: sinktest.Events(t, placed, 2)})
	if err == nil || !strings.Contains(err.Error(), reason) {
		t.Fatalf("write error %v does not carry the server's reason %q", err, reason)
	}
	t.Log(err)
}
