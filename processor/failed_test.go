package processor_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/processor/processortest"
)

func TestFailedModeStoresEveryFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	publish := func(fe *eventv1.FailedEvent) string {
		data, attrs, err := envelope.EncodeFailed(fe)
		if err != nil {
			t.Fatal(err)
		}
		return e.publishRaw(t, envelope.FailedTopic, data, attrs)
	}
	// The same event failed twice (two rows), another once.
	first := publish(&eventv1.FailedEvent{Stage: eventv1.Stage_STAGE_VALIDATE, Reason: eventv1.Reason_REASON_VALIDATION_FAILED, EventId: "e-1", Producer: "shop", FailedAt: timestamppb.New(at)})
	second := publish(&eventv1.FailedEvent{Stage: eventv1.Stage_STAGE_LOAD, Reason: eventv1.Reason_REASON_LOAD_REJECTED, EventId: "e-1", Producer: "shop", FailedAt: timestamppb.New(at.Add(time.Hour))})
	other := publish(&eventv1.FailedEvent{Stage: eventv1.Stage_STAGE_DECODE, Reason: eventv1.Reason_REASON_DECODE_FAILED, EventId: "e-2", FailedAt: timestamppb.New(at)})
	corrupt := e.publishRaw(t, envelope.FailedTopic, []byte{0xff, 0xff, 0xff}, nil)

	s := processortest.New()
	r := e.startWith(t, processor.NewSubscriptionPuller(e.client, "failed"), s, nil,
		processor.WithFailedMode(), processor.WithBackoff(time.Second, 30*time.Second))
	e.waitFor(t, "three failures stored and the corrupt one refused", 10*time.Second, func() bool {
		return s.Len() == 3 && r.p.Stats().Refused >= 1 && r.p.Stats().Acked == 3
	})
	rows := s.Events()
	for id, want := range map[string]time.Time{first: at, second: at.Add(time.Hour), other: at} {
		ev, ok := rows[id]
		if !ok {
			t.Fatalf("no row for message %s; rows %v", id, keys(rows))
		}
		if ev.Schema.Subject != contract.FailedEventSchema().Subject || !ev.EventTime.Equal(want) {
			t.Fatalf("row %s: schema %s, time %v; want the FailedEvent schema and failed_at %v", id, ev.Schema.Subject, ev.EventTime, want)
		}
	}
	if got := rows[second].Message.Get(rows[second].Message.Descriptor().Fields().ByName("reason")).Enum(); got != 9 {
		t.Fatalf("row reason %d, want REASON_LOAD_REJECTED", got)
	}
	m := e.messages(envelope.FailedTopic)[corrupt] // keyed by message id: it has no attributes
	backedOff := false
	for _, ma := range m.Modacks {
		backedOff = backedOff || ma.AckDeadline == 30
	}
	if m.Acks != 0 || !backedOff {
		t.Fatalf("the undecodable failed event: %d acks, modacks %+v; want it nacked with the longest backoff", m.Acks, m.Modacks)
	}
	if n := e.count(envelope.FailedTopic); n != 4 {
		t.Fatalf("%d messages on hem-failed, want the 4 published: failures of failures go nowhere", n)
	}
}

func TestFailedEventPublishErrorsAreRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	topic := processor.NewTopicPublisher(e.client, envelope.FailedTopic)
	t.Cleanup(topic.Stop)
	var calls atomic.Int32
	flaky := processor.FailedPublisherFunc(func(ctx context.Context, fe *eventv1.FailedEvent) error {
		if calls.Add(1) <= 2 {
			return errors.New("hem-failed unavailable")
		}
		return topic.PublishFailed(ctx, fe)
	})
	placed := e.bySubj["shop.orders.v1.OrderPlaced"]
	envl := envelope.Envelope{EventID: "corrupt", Type: placed.Subject, SchemaID: placed.ID, EventTime: time.Now()}
	e.publishRaw(t, envelope.EventsTopic, []byte{0xff}, envl.Encode())
	r := e.startWith(t, processor.NewSubscriptionPuller(e.client, "events"), processortest.New(), flaky)
	e.waitFor(t, "the failed event published", 20*time.Second, func() bool { return r.p.Stats().Failed == 1 && r.p.Stats().Acked == 1 })
	if fes := e.failedEvents(t)["corrupt"]; len(fes) != 1 || fes[0].GetAttempts() != 3 {
		t.Fatalf("failed events %v, want one after 3 attempts", fes)
	}
	if m := e.messages(envelope.EventsTopic)["corrupt"]; m.Deliveries != 3 || m.Acks != 1 {
		t.Fatalf("the corrupt message: %d deliveries, %d acks; want it kept until its failure was published", m.Deliveries, m.Acks)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
