package processor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/internal/loadgen"
	"github.com/hemlabs/hem/internal/wire"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/processor/processortest"
	"github.com/hemlabs/hem/registry/schema"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/sinktest"
)

const project = "p"

// errNotFound stands for the registry's answer that an id does not exist.
var errNotFound = errors.New("schema not found")

type schemas struct {
	mu   sync.Mutex
	byID map[int64]*schema.Schema
}

func (s *schemas) ByID(_ context.Context, id int64) (*schema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.byID[id]; ok {
		return sc, nil
	}
	return nil, fmt.Errorf("id %d: %w", id, errNotFound)
}

type env struct {
	srv      *pstest.Server
	client   *pubsub.Client
	schemas  *schemas
	bySubj   map[string]*schema.Schema
	failures *pubsub.Subscriber
}

func newEnv(t *testing.T, ackDeadline int32) *env {
	t.Helper()
	ctx := t.Context()
	srv := pstest.NewServer()
	t.Cleanup(func() { _ = srv.Close() })
	c, err := pubsub.NewClient(ctx, project, option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for _, topic := range []string{wire.EventsTopic, wire.FailedTopic} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/" + topic}); err != nil {
			t.Fatal(err)
		}
	}
	for sub, topic := range map[string]string{"events": wire.EventsTopic, "failed": wire.FailedTopic} {
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name: "projects/p/subscriptions/" + sub, Topic: "projects/p/topics/" + topic, AckDeadlineSeconds: ackDeadline}); err != nil {
			t.Fatal(err)
		}
	}
	bySubj := sinktest.Schemas(t)
	sc := &schemas{byID: map[int64]*schema.Schema{}}
	for _, s := range bySubj {
		sc.byID[s.ID] = s
	}
	return &env{srv: srv, client: c, schemas: sc, bySubj: bySubj}
}

// publish sends n generated events and returns their ids.
func (e *env) publish(t *testing.T, n int, subjects ...string) []string {
	t.Helper()
	g, err := loadgen.NewGenerator(uint64(n), subjects, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := e.client.Publisher(wire.EventsTopic)
	defer p.Stop()
	var ids []string
	var results []*pubsub.PublishResult
	for i := range n {
		ev := g.Next()
		subject := string(ev.Message.ProtoReflect().Descriptor().FullName())
		data, _ := proto.Marshal(ev.Message)
		id := fmt.Sprintf("e-%s-%d", t.Name(), i)
		envl := wire.Envelope{EventID: id, Type: subject, SchemaID: e.bySubj[subject].ID, EventTime: ev.Time, ReceivedAt: ev.Time, Producer: "test"}
		results = append(results, p.Publish(t.Context(), &pubsub.Message{Data: data, Attributes: envl.Encode()}))
		ids = append(ids, id)
	}
	for _, r := range results {
		if _, err := r.Get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func (e *env) publishRaw(t *testing.T, data []byte, attrs map[string]string) {
	t.Helper()
	p := e.client.Publisher(wire.EventsTopic)
	defer p.Stop()
	if _, err := p.Publish(t.Context(), &pubsub.Message{Data: data, Attributes: attrs}).Get(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) start(t *testing.T, s sink.Sink, opts ...processor.Option) (*processor.Processor, context.CancelFunc, <-chan error) {
	t.Helper()
	failed := processor.NewTopicPublisher(e.client, wire.FailedTopic)
	t.Cleanup(failed.Stop)
	opts = append([]processor.Option{
		processor.WithBatch(100, 1<<20, 50*time.Millisecond),
		processor.WithBackoff(time.Second, 2*time.Second),
		processor.WithAckDeadline(10 * time.Second),
		processor.WithPermanentError(func(err error) bool { return errors.Is(err, errNotFound) }),
		processor.WithDrainTimeout(5 * time.Second),
	}, opts...)
	p, err := processor.New(processor.NewSubscriptionPuller(e.client, "events"), s, e.schemas, failed, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() { done <- p.Run(ctx); close(finished) }()
	t.Cleanup(func() { cancel(); <-finished })
	return p, cancel, done
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failedEvents reads what reached hem-failed.
func (e *env) failedEvents(t *testing.T) []*eventv1.FailedEvent {
	t.Helper()
	var out []*eventv1.FailedEvent
	for _, m := range e.srv.Messages() {
		if m.Topic != "projects/p/topics/"+wire.FailedTopic {
			continue
		}
		fe, err := wire.DecodeFailed(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fe)
	}
	return out
}

func TestEveryEventWrittenAndAckedAfterTheWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10)
	ids := e.publish(t, 600)
	s := processortest.New()
	p, _, _ := e.start(t, s)
	waitFor(t, "600 events in the sink", 20*time.Second, func() bool { return s.Len() == 600 })
	stored := s.Events()
	for _, id := range ids {
		ev, ok := stored[id]
		if !ok {
			t.Fatalf("event %s is missing", id)
		}
		if ev.Schema == nil || ev.Message == nil || ev.Producer != "test" || ev.PublishedAt.IsZero() {
			t.Fatalf("event %s arrived without its schema, message or metadata: %+v", id, ev)
		}
		if got := string(ev.Message.Descriptor().FullName()); got != ev.Schema.Subject {
			t.Fatalf("event %s decoded as %s, schema says %s", id, got, ev.Schema.Subject)
		}
	}
	waitFor(t, "every message acked", 5*time.Second, func() bool { return p.Stats().Acked == 600 })
	for _, m := range e.srv.Messages() {
		if m.Topic == "projects/p/topics/"+wire.EventsTopic && m.Acks != 1 {
			t.Fatalf("message %s acked %d times", m.ID, m.Acks)
		}
	}
	if st := p.Stats(); st.Nacked != 0 || st.Failed != 0 {
		t.Fatalf("stats %+v: nothing should have been nacked or failed", st)
	}
}

func TestSinkErrorsAreRetriedUntilWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10)
	ids := e.publish(t, 200)
	s := processortest.New()
	var calls sync.Map
	// The first write of every batch fails; a BatchError then refuses the
	// first event of later batches once.
	s.SetFault(func(b *sink.Batch) error {
		key := b.Events[0].ID
		n, _ := calls.LoadOrStore(key, new(int))
		*n.(*int)++
		switch *n.(*int) {
		case 1:
			return errors.New("warehouse busy")
		case 2:
			return &sink.BatchError{Failed: map[int]error{0: errors.New("row conflict")}}
		}
		return nil
	})
	p, _, _ := e.start(t, s)
	waitFor(t, "200 events despite sink errors", 30*time.Second, func() bool { return s.Len() == 200 })
	for _, id := range ids {
		if s.Writes(id) < 1 {
			t.Fatalf("event %s never written", id)
		}
	}
	if st := p.Stats(); st.Nacked == 0 || st.Failed != 0 {
		t.Fatalf("stats %+v: want nacks for the failed writes and no dead letters", st)
	}
}

func TestPermanentFailuresBecomeFailedEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10)
	good := e.publish(t, 50, "shop.orders.v1.OrderPlaced")
	placed := e.bySubj["shop.orders.v1.OrderPlaced"]
	// Corrupt bytes on the topic.
	corrupt := wire.Envelope{EventID: "corrupt-1", Type: placed.Subject, SchemaID: placed.ID, EventTime: time.Now(), Producer: "app"}
	e.publishRaw(t, []byte{0xff, 0xff, 0xff, 0x01, 0x02}, corrupt.Encode())
	// A schema id the registry does not know.
	unknown := wire.Envelope{EventID: "unknown-id-1", Type: placed.Subject, SchemaID: 999, EventTime: time.Now()}
	e.publishRaw(t, nil, unknown.Encode())
	// Attributes missing altogether.
	e.publishRaw(t, []byte("x"), map[string]string{"k": "v"})

	s := processortest.New()
	s.SetFault(func(b *sink.Batch) error { // the sink refuses one event for good
		for i, ev := range b.Events {
			if ev.ID == good[7] {
				return &sink.BatchError{Failed: map[int]error{i: sink.Permanentf("column too long")}}
			}
		}
		return nil
	})
	p, _, _ := e.start(t, s)
	waitFor(t, "49 good events and 4 failures", 20*time.Second, func() bool { return s.Len() == 49 && p.Stats().Failed == 4 })

	byID := map[string]*eventv1.FailedEvent{}
	for _, fe := range e.failedEvents(t) {
		byID[fe.GetEventId()] = fe
	}
	cases := []struct {
		id     string
		stage  eventv1.Stage
		reason eventv1.Reason
	}{
		{"corrupt-1", eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_DECODE_FAILED},
		{"unknown-id-1", eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_SCHEMA_NOT_FOUND},
		{"", eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_INVALID_ENVELOPE},
		{good[7], eventv1.Stage_STAGE_LOAD, eventv1.Reason_REASON_LOAD_REJECTED},
	}
	for _, c := range cases {
		fe, ok := byID[c.id]
		if !ok {
			t.Fatalf("no failed event for %q; got %v", c.id, byID)
		}
		if fe.GetStage() != c.stage || fe.GetReason() != c.reason || fe.GetMessage() == "" || fe.GetFailedAt() == nil {
			t.Fatalf("failed event %q: stage %v reason %v message %q", c.id, fe.GetStage(), fe.GetReason(), fe.GetMessage())
		}
		var original eventv1.Event
		if err := proto.Unmarshal(fe.GetOriginal(), &original); err != nil {
			t.Fatalf("failed event %q: original is not an Event: %v", c.id, err)
		}
		if original.GetEventId() != c.id {
			t.Fatalf("failed event %q: original carries id %q", c.id, original.GetEventId())
		}
	}
	if orig := byID["corrupt-1"]; orig != nil {
		var original eventv1.Event
		_ = proto.Unmarshal(orig.GetOriginal(), &original)
		if string(original.GetPayload().GetValue()) != "\xff\xff\xff\x01\x02" || original.GetPayload().GetTypeUrl() != "type.googleapis.com/"+placed.Subject {
			t.Fatalf("the corrupt payload was not kept byte for byte: %v", original.GetPayload())
		}
	}
	// Everything was acked: nothing comes back.
	waitFor(t, "all acked", 5*time.Second, func() bool { return p.Stats().Acked == 53 })
}

func TestCrashMidBatchLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10)
	ids := e.publish(t, 400)
	first := processortest.New()
	slow := make(chan struct{})
	first.SetFault(func(*sink.Batch) error { <-slow; return errors.New("killed") })
	_, cancel, done := e.start(t, first, processor.WithDrainTimeout(100*time.Millisecond))
	time.Sleep(300 * time.Millisecond) // batches are in flight
	cancel()                           // the process goes away mid-write
	close(slow)
	<-done

	second := processortest.New()
	e.start(t, second)
	waitFor(t, "every event after the restart", 30*time.Second, func() bool { return first.Len()+second.Len() >= 400 && second.Len() == 400-first.Len() })
	all := first.Events()
	for id, ev := range second.Events() {
		all[id] = ev
	}
	for _, id := range ids {
		if _, ok := all[id]; !ok {
			t.Fatalf("event %s lost across the crash", id)
		}
	}
}

func TestReplicasShareASubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10)
	ids := e.publish(t, 1000)
	a, b := processortest.New(), processortest.New()
	e.start(t, a, processor.WithPullers(1, 100))
	e.start(t, b, processor.WithPullers(1, 100))
	waitFor(t, "both replicas to finish", 30*time.Second, func() bool {
		all := a.Events()
		for id := range b.Events() {
			all[id] = nil
		}
		return len(all) == len(ids)
	})
	if a.Len() == 0 || b.Len() == 0 {
		t.Fatalf("one replica did all the work: %d and %d", a.Len(), b.Len())
	}
}

func TestEventsOfTwoVersionsBothArrive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10)
	v1 := e.bySubj["shop.orders.v1.OrderPlaced"]
	v2 := v1.WithIdentity(500, 2, schema.Usable, time.Now())
	e.schemas.mu.Lock()
	e.schemas.byID[v2.ID] = v2
	e.schemas.mu.Unlock()
	g, _ := loadgen.NewGenerator(1, []string{v1.Subject}, 0)
	for i, s := range []*schema.Schema{v1, v2, v1, v2} {
		data, _ := proto.Marshal(g.Next().Message)
		envl := wire.Envelope{EventID: fmt.Sprint("v-", i), Type: s.Subject, SchemaID: s.ID, EventTime: time.Now()}
		e.publishRaw(t, data, envl.Encode())
	}
	s := processortest.New()
	p, _, _ := e.start(t, s)
	waitFor(t, "4 events of two versions", 10*time.Second, func() bool { return s.Len() == 4 })
	for id, ev := range s.Events() {
		want := map[string]int64{"v-0": v1.ID, "v-1": v2.ID, "v-2": v1.ID, "v-3": v2.ID}[id]
		if ev.Schema.ID != want {
			t.Fatalf("event %s decoded with schema %d, want %d", id, ev.Schema.ID, want)
		}
	}
	if p.Stats().Nacked != 0 {
		t.Fatal("a version was nacked")
	}
}

func BenchmarkPipeline(b *testing.B) {
	srv := pstest.NewServer()
	defer srv.Close()
	ctx := b.Context()
	c, _ := pubsub.NewClient(ctx, project, option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	defer c.Close()
	_, _ = c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/t"})
	_, _ = c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: "projects/p/subscriptions/s", Topic: "projects/p/topics/t", AckDeadlineSeconds: 60})
	bySubj := sinktest.Schemas(b)
	sc := &schemas{byID: map[int64]*schema.Schema{}}
	for _, s := range bySubj {
		sc.byID[s.ID] = s
	}
	placed := bySubj["shop.orders.v1.OrderPlaced"]
	g, _ := loadgen.NewGenerator(1, []string{placed.Subject}, 0)
	data, _ := proto.Marshal(g.Next().Message)
	s := processortest.New()
	p, _ := processor.New(processor.NewSubscriptionPuller(c, "s"), s, sc, processor.FailedPublisherFunc(func(context.Context, *eventv1.FailedEvent) error { return nil }),
		processor.WithBatch(1000, 8<<20, 20*time.Millisecond))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- p.Run(runCtx) }()
	pub := c.Publisher("t")
	n := 0
	for b.Loop() {
		for range 1000 {
			envl := wire.Envelope{EventID: fmt.Sprint(n), Type: placed.Subject, SchemaID: placed.ID, EventTime: time.Now()}
			pub.Publish(ctx, &pubsub.Message{Data: data, Attributes: envl.Encode()})
			n++
		}
		pub.Flush()
		for s.Len() < n {
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	cancel()
	<-done
}

func TestFullOutstandingWritesBeforeTheBatchAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 10)
	e.publish(t, 600)
	s := processortest.New()
	// Batches would wait an hour, but only 200 messages may be held: the
	// processor must write what it holds instead of stalling.
	p, _, _ := e.start(t, s, processor.WithBatch(100_000, 1<<30, time.Hour), processor.WithMaxOutstanding(200, 1<<30), processor.WithPullers(1, 100))
	waitFor(t, "600 events written long before the batch age", 20*time.Second, func() bool { return s.Len() == 600 })
	if st := p.Stats(); st.Batches < 3 {
		t.Fatalf("%d batches for 600 events with 200 outstanding", st.Batches)
	}
}
