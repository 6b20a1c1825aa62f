package wiring

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/console"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// resendBatch events go in one Collect call: well under the collector's
// default limits (1000 events, 10 MiB), so a replay of large events fits.
const resendBatch = 100

// CollectorResender resends events through a collector over gRPC with an
// API key, as hem replay --failed does: the collector validates them again
// and they keep their ids (the event's event_id), so the warehouse stays
// one row per event. The same code serves hem dev (its collector, its key)
// and production (the collector's URL, the console's key). Safe for
// concurrent use.
type CollectorResender struct {
	conn *grpc.ClientConn
	api  collectorv1.CollectorServiceClient
	key  string
}

var _ console.Resender = (*CollectorResender)(nil)

// DialCollector connects to a collector at target: "host:port" in
// plaintext, or "https://host[:port]" with TLS (a Cloud Run URL). It does
// not connect until the first Resend. Close it.
func DialCollector(target, key string) (*CollectorResender, error) {
	if target == "" {
		return nil, errors.New("console: collector address is required")
	}
	conn, err := client.Dial(target)
	if err != nil {
		return nil, fmt.Errorf("console: collector: %w", err)
	}
	return &CollectorResender{conn: conn, api: collectorv1.NewCollectorServiceClient(conn), key: key}, nil
}

// Close closes the connection.
func (c *CollectorResender) Close() error { return c.conn.Close() }

// Resend implements console.Resender: one result per event, in order. The
// events are sent as given (ids included); a batch that fails as a whole
// ends the call with the results so far and the error.
func (c *CollectorResender) Resend(ctx context.Context, events []*eventv1.Event) ([]*collectorv1.EventResult, error) {
	if c.key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, auth.APIKeyHeader, c.key)
	}
	out := make([]*collectorv1.EventResult, 0, len(events))
	for start := 0; start < len(events); start += resendBatch {
		batch := events[start:min(start+resendBatch, len(events))]
		for _, e := range batch {
			if e.GetEventId() == "" {
				return out, fmt.Errorf("console: resend: an event of %s without an id would be a new event", e.GetPayload().GetTypeUrl())
			}
		}
		resp, err := c.api.Collect(ctx, &collectorv1.CollectRequest{Events: batch})
		if err != nil {
			return out, fmt.Errorf("console: resend: %w", err)
		}
		if len(resp.GetResults()) != len(batch) {
			return out, fmt.Errorf("console: resend: the collector answered %d results for %d events", len(resp.GetResults()), len(batch))
		}
		out = append(out, resp.GetResults()...)
	}
	return out, nil
}

// CoreResender resends through a collector's core in the same process (hem
// dev), as principal p: the same checks and the same Pub/Sub topics as the
// collector's gRPC edge, without the network. It is also a console.Checker
// (Collector.Check publishes nothing), so the console checks a replay
// before it sends any of it. Safe for concurrent use.
type CoreResender struct {
	c *collector.Collector
	p *auth.Principal
}

var (
	_ console.Resender = (*CoreResender)(nil)
	_ console.Checker  = (*CoreResender)(nil)
)

// NewCoreResender resends through c as p (hem dev: the dev key's
// principal).
func NewCoreResender(c *collector.Collector, p *auth.Principal) *CoreResender {
	return &CoreResender{c: c, p: p}
}

// Resend implements console.Resender.
func (r *CoreResender) Resend(ctx context.Context, events []*eventv1.Event) ([]*collectorv1.EventResult, error) {
	return inBatches(events, func(in []collector.Input) ([]*collectorv1.EventResult, error) {
		return r.c.Ingest(ctx, r.p, in)
	})
}

// Check implements console.Checker.
func (r *CoreResender) Check(ctx context.Context, events []*eventv1.Event) ([]*collectorv1.EventResult, error) {
	return inBatches(events, func(in []collector.Input) ([]*collectorv1.EventResult, error) {
		return r.c.Check(ctx, r.p, in)
	})
}

// inBatches calls fn with at most resendBatch events at a time, as a
// remote collector would get them, and joins the results.
func inBatches(events []*eventv1.Event, fn func([]collector.Input) ([]*collectorv1.EventResult, error)) ([]*collectorv1.EventResult, error) {
	out := make([]*collectorv1.EventResult, 0, len(events))
	for start := 0; start < len(events); start += resendBatch {
		batch := events[start:min(start+resendBatch, len(events))]
		in := make([]collector.Input, len(batch))
		for i, e := range batch {
			if e.GetEventId() == "" {
				return out, fmt.Errorf("console: resend: an event of %s without an id would be a new event", e.GetPayload().GetTypeUrl())
			}
			in[i].Event = e
		}
		res, err := fn(in)
		if err != nil {
			return out, fmt.Errorf("console: resend: %w", err)
		}
		out = append(out, res...)
	}
	return out, nil
}
