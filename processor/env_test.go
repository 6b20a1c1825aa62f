package processor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/sinktest"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

const project = "p"

// errNotFound stands for the registry's answer that an id does not exist.
var errNotFound = errors.New("schema not found")

// schemas is an in-memory schema source.
type schemas struct {
	mu   sync.Mutex
	byID map[int64]*contract.Schema
}

func (s *schemas) ByID(_ context.Context, id int64) (*contract.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.byID[id]; ok {
		return sc, nil
	}
	return nil, fmt.Errorf("id %d: %w", id, errNotFound)
}

func (s *schemas) add(sc *contract.Schema) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[sc.ID] = sc
}

// clock runs speed times faster than the wall clock, so Pub/Sub deadlines
// and backoffs pass quickly. The pstest server and the processors share it.
type clock struct {
	start time.Time
	speed float64
}

func (c *clock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.start)) * c.speed))
}

// env is a pstest server with the events and failed topics, a subscription
// "events" on hem-events and "failed" on hem-failed (ack deadline 10 s),
// and the sample schemas.
type env struct {
	srv     *pstest.Server
	client  *pubsub.Client
	clock   *clock
	schemas *schemas
	bySubj  map[string]*contract.Schema

	mu    sync.Mutex
	procs []*processor.Processor
	msgMu sync.Mutex
}

// fast is the clock speed of most tests: a 10 s lease lasts 2 s.
const fast = 5

func newEnv(t testing.TB, speed float64) *env {
	t.Helper()
	ctx := t.Context()
	srv := pstest.NewServer()
	t.Cleanup(func() { _ = srv.Close() })
	clk := &clock{start: time.Now(), speed: speed}
	srv.SetTimeNowFunc(clk.Now)
	c, err := pubsub.NewClient(context.WithoutCancel(ctx), project, option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for _, topic := range []string{envelope.EventsTopic, envelope.FailedTopic} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/" + topic}); err != nil {
			t.Fatal(err)
		}
	}
	for sub, topic := range map[string]string{"events": envelope.EventsTopic, "failed": envelope.FailedTopic} {
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name: "projects/p/subscriptions/" + sub, Topic: "projects/p/topics/" + topic, AckDeadlineSeconds: 10}); err != nil {
			t.Fatal(err)
		}
	}
	bySubj := sinktest.Schemas(t)
	sc := &schemas{byID: map[int64]*contract.Schema{}}
	for _, s := range bySubj {
		sc.add(s)
	}
	return &env{srv: srv, client: c, clock: clk, schemas: sc, bySubj: bySubj}
}

// publish sends n generated events of subjects (all when none) with the
// producer "test" and the attribute region=eu, and returns their ids.
func (e *env) publish(t testing.TB, n int, subjects ...string) []string {
	t.Helper()
	g, err := sample.NewGenerator(uint64(n), subjects, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := e.client.Publisher(envelope.EventsTopic)
	defer p.Stop()
	ids := make([]string, n)
	results := make([]*pubsub.PublishResult, n)
	for i := range n {
		ev := g.Next()
		subject := string(ev.Message.ProtoReflect().Descriptor().FullName())
		data, err := proto.Marshal(ev.Message)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = fmt.Sprintf("%s-%d", t.Name(), i)
		envl := envelope.Envelope{EventID: ids[i], Type: subject, SchemaID: e.bySubj[subject].ID, EventTime: ev.Time,
			ReceivedAt: ev.Time, Producer: "test", Attributes: map[string]string{"region": "eu"}}
		results[i] = p.Publish(t.Context(), &pubsub.Message{Data: data, Attributes: envl.Encode()})
	}
	for _, r := range results {
		if _, err := r.Get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// publishRaw sends one message as is to topic.
func (e *env) publishRaw(t *testing.T, topic string, data []byte, attrs map[string]string) string {
	t.Helper()
	p := e.client.Publisher(topic)
	defer p.Stop()
	id, err := p.Publish(t.Context(), &pubsub.Message{Data: data, Attributes: attrs}).Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// messages returns copies of what pstest holds for topic, by event id (the
// hem-event-id attribute) or message id when there is none. (pstest's
// Messages updates the counters of the messages it returns, so concurrent
// calls must not read them unguarded.)
func (e *env) messages(topic string) map[string]pstest.Message {
	e.msgMu.Lock()
	defer e.msgMu.Unlock()
	out := map[string]pstest.Message{}
	for _, m := range e.srv.Messages() {
		if m.Topic != "projects/p/topics/"+topic {
			continue
		}
		key := m.Attributes[envelope.AttrEventID]
		if key == "" {
			key = m.ID
		}
		// Only the exported fields: the server writes the others.
		out[key] = pstest.Message{ID: m.ID, Data: m.Data, Attributes: m.Attributes, PublishTime: m.PublishTime,
			Deliveries: m.Deliveries, Acks: m.Acks, Modacks: m.Modacks, Topic: m.Topic}
	}
	return out
}

// count is the number of messages published to topic.
func (e *env) count(topic string) int {
	e.msgMu.Lock()
	defer e.msgMu.Unlock()
	n := 0
	for _, m := range e.srv.Messages() {
		if m.Topic == "projects/p/topics/"+topic {
			n++
		}
	}
	return n
}

// failedEvents reads what reached hem-failed, by event id.
func (e *env) failedEvents(t *testing.T) map[string][]*eventv1.FailedEvent {
	t.Helper()
	out := map[string][]*eventv1.FailedEvent{}
	for _, m := range e.messages(envelope.FailedTopic) {
		fe, err := envelope.DecodeFailed(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out[fe.GetEventId()] = append(out[fe.GetEventId()], fe)
	}
	return out
}

// run is a started processor.
type run struct {
	p      *processor.Processor
	cancel context.CancelFunc
	done   chan error // receives Run's result
}

// wait cancels the processor and returns Run's result.
func (r *run) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
		return nil
	}
}

// defaults are the test processors' options: small batches, short
// backoffs, a 10 s lease, all on the env's clock.
func (e *env) defaults() []processor.Option {
	return []processor.Option{
		processor.WithBatch(100, 1<<20, 250*time.Millisecond),
		processor.WithBackoff(time.Second, 2*time.Second),
		processor.WithAckDeadline(10 * time.Second),
		processor.WithPermanentError(func(err error) bool { return errors.Is(err, errNotFound) }),
		processor.WithDrainTimeout(5 * time.Second),
		processor.WithClock(e.clock.Now),
	}
}

// start runs a processor on the "events" subscription into s, publishing
// failures to hem-failed.
func (e *env) start(t *testing.T, s sink.Sink, opts ...processor.Option) *run {
	t.Helper()
	return e.startWith(t, processor.NewSubscriptionPuller(e.client, "events"), s, nil, opts...)
}

// startWith runs a processor with puller and failed (nil: hem-failed).
func (e *env) startWith(t *testing.T, puller processor.Puller, s sink.Sink, failed processor.FailedPublisher, opts ...processor.Option) *run {
	t.Helper()
	if failed == nil {
		tp := processor.NewTopicPublisher(e.client, envelope.FailedTopic)
		t.Cleanup(tp.Stop)
		failed = tp
	}
	p, err := processor.New(puller, s, e.schemas, failed, append(e.defaults(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	r := &run{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { _ = r.stop(t) })
	return r
}

// waitFor polls ok until it holds, or fails the test after timeout with
// the processors' stats.
func (e *env) waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			e.mu.Lock()
			var stats []processor.Stats
			for _, p := range e.procs {
				stats = append(stats, p.Stats())
			}
			e.mu.Unlock()
			t.Fatalf("timed out waiting for %s; processor stats %+v", what, stats)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killable is a puller whose process can die: after kill nothing it
// does reaches Pub/Sub any more.
type killable struct {
	processor.Puller
	dead atomic.Bool
}

var errDead = errors.New("the process is gone")

func (k *killable) Pull(ctx context.Context, max int) ([]*processor.Message, error) {
	if k.dead.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	msgs, err := k.Puller.Pull(ctx, max)
	if k.dead.Load() {
		return nil, errDead
	}
	return msgs, err
}

func (k *killable) Ack(ctx context.Context, ids []string) error {
	if k.dead.Load() {
		return errDead
	}
	return k.Puller.Ack(ctx, ids)
}

func (k *killable) ModifyAckDeadline(ctx context.Context, ids []string, seconds int) error {
	if k.dead.Load() {
		return errDead
	}
	return k.Puller.ModifyAckDeadline(ctx, ids, seconds)
}

// gated is a sink that a dead process no longer writes to.
type gated struct {
	sink.Sink
	dead *atomic.Bool
}

func (g gated) Write(ctx context.Context, b *sink.Batch) error {
	if g.dead.Load() {
		return errDead
	}
	return g.Sink.Write(ctx, b)
}
