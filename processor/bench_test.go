package processor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/envelope"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/processor/processortest"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

// benchRun starts a processor into an in-memory sink for a benchmark.
func benchRun(b *testing.B, e *env, opts ...processor.Option) *processortest.Sink {
	s := processortest.New()
	benchStart(b, e, s, opts...)
	return s
}

// benchStart runs a processor of the events subscription into s until the
// benchmark ends; opts come after the default batching, so they may
// replace it.
func benchStart(b *testing.B, e *env, s sink.Sink, opts ...processor.Option) {
	noFailures := processor.FailedPublisherFunc(func(context.Context, *eventv1.FailedEvent) error { return nil })
	p, err := processor.New(processor.NewSubscriptionPuller(e.client, "events"), s, e.schemas, noFailures,
		append([]processor.Option{processor.WithBatch(1000, 8<<20, 20*time.Millisecond)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(b.Context()))
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
}

// benchPublisher publishes OrderPlaced events with unique ids.
type benchPublisher struct {
	pub     *pubsub.Publisher
	data    []byte
	subject string
	id      int64
	n       int
}

func newBenchPublisher(b *testing.B, e *env) *benchPublisher {
	placed := e.bySubj["shop.orders.v1.OrderPlaced"]
	g, _ := sample.NewGenerator(1, []string{placed.Subject}, 0)
	data, _ := proto.Marshal(g.Next().Message)
	pub := e.client.Publisher(envelope.EventsTopic)
	pub.PublishSettings.CountThreshold = 1000
	pub.PublishSettings.ByteThreshold = 4 << 20
	b.Cleanup(pub.Stop)
	return &benchPublisher{pub: pub, data: data, subject: placed.Subject, id: placed.ID}
}

// publish sends k events and returns their results.
func (p *benchPublisher) publish(ctx context.Context, k int) []*pubsub.PublishResult {
	out := make([]*pubsub.PublishResult, k)
	now := time.Now()
	for i := range out {
		envl := envelope.Envelope{EventID: fmt.Sprint("bench-", p.n), Type: p.subject, SchemaID: p.id, EventTime: now, ReceivedAt: now, Producer: "bench"}
		out[i] = p.pub.Publish(ctx, &pubsub.Message{Data: p.data, Attributes: envl.Encode()})
		p.n++
	}
	return out
}

func waitLen(s *processortest.Sink, n int) {
	for s.Len() < n {
		time.Sleep(200 * time.Microsecond)
	}
}

// BenchmarkPipeline is pstest → processor → in-memory sink with events
// published and consumed at once: each op publishes 1000 OrderPlaced
// events and waits until at most 5000 are in the pipe, so the rate is the
// sustained one (pstest, publisher and processor share the cores).
func BenchmarkPipeline(b *testing.B) {
	e := newEnv(b, 1)
	s := benchRun(b, e)
	pub := newBenchPublisher(b, e)
	b.ReportAllocs()
	for b.Loop() {
		pub.publish(b.Context(), 1000)
		waitLen(s, pub.n-5000)
	}
	b.ReportMetric(float64(s.Len())/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDrainBacklog is how fast a processor drains a backlog of 20 000
// events from pstest into an in-memory sink.
func BenchmarkDrainBacklog(b *testing.B) {
	for _, pullers := range []int{1, 2, 4} {
		b.Run(fmt.Sprint("pullers=", pullers), func(b *testing.B) {
			e := newEnv(b, 1)
			pub := newBenchPublisher(b, e)
			var s *processortest.Sink
			events := 0
			for b.Loop() {
				b.StopTimer()
				for _, r := range pub.publish(b.Context(), 20_000) {
					if _, err := r.Get(b.Context()); err != nil {
						b.Fatal(err)
					}
				}
				if s == nil {
					s = benchRun(b, e, processor.WithPullers(pullers, 1000))
				}
				b.StartTimer()
				waitLen(s, pub.n)
				events += 20_000
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
