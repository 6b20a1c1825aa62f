package processor_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/processor"
	"github.com/hemlabs/hem/processor/processortest"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/sinktest"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

func TestEventsAreWrittenOnceAndAckedAfterTheirWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	const n = 600
	ids := e.publish(t, n)
	published := e.messages(envelope.EventsTopic)
	s := processortest.New()
	var (
		mu       sync.Mutex
		problems []string
	)
	s.SetFault(func(_ context.Context, b *sink.Batch) error {
		acked := e.messages(envelope.EventsTopic)
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range b.Events {
			if ev.Schema.Subject != b.Subject {
				problems = append(problems, fmt.Sprintf("a %s batch holds %s, a %s", b.Subject, ev.ID, ev.Schema.Subject))
			}
			if acked[ev.ID].Acks > 0 {
				problems = append(problems, fmt.Sprintf("%s was acked before its write returned", ev.ID))
			}
		}
		return nil
	})
	r := e.start(t, s)
	e.waitFor(t, "every event written and acked", 20*time.Second, func() bool { return s.Len() == n && r.p.Stats().Acked == n })

	mu.Lock()
	if len(problems) > 0 {
		t.Fatalf("%d problems, e.g. %s", len(problems), problems[0])
	}
	mu.Unlock()
	stored := s.Events()
	settled := e.messages(envelope.EventsTopic)
	for _, id := range ids {
		ev, ok := stored[id]
		if !ok {
			t.Fatalf("event %s is missing", id)
		}
		m := published[id]
		envl, _ := envelope.Decode(m.Attributes)
		switch {
		case s.Writes(id) != 1:
			t.Fatalf("event %s written %d times", id, s.Writes(id))
		case ev.Schema != e.bySubj[envl.Type] || string(ev.Message.Descriptor().FullName()) != envl.Type:
			t.Fatalf("event %s (a %s) decoded as %s with schema %v", id, envl.Type, ev.Message.Descriptor().FullName(), ev.Schema.Subject)
		case !ev.EventTime.Equal(envl.EventTime) || !ev.ReceivedAt.Equal(envl.ReceivedAt) || !ev.PublishedAt.Equal(m.PublishTime):
			t.Fatalf("event %s times: event %v received %v published %v; published with %v %v %v", id,
				ev.EventTime, ev.ReceivedAt, ev.PublishedAt, envl.EventTime, envl.ReceivedAt, m.PublishTime)
		case ev.Producer != "test" || len(ev.Attributes) != 1 || ev.Attributes["region"] != "eu":
			t.Fatalf("event %s producer %q attributes %v; want test and only the producer's region=eu", id, ev.Producer, ev.Attributes)
		case !proto.Equal(ev.Message.Interface(), decodeWith(t, ev.Schema, m.Data)):
			t.Fatalf("event %s does not hold its payload", id)
		case settled[id].Acks != 1 || settled[id].Deliveries != 1:
			t.Fatalf("message of %s: %d acks, %d deliveries; want 1 and 1", id, settled[id].Acks, settled[id].Deliveries)
		}
	}
	if st := r.p.Stats(); st.Received != n || st.Written != n || st.Nacked != 0 || st.Failed != 0 || st.Outstanding != 0 {
		t.Fatalf("stats %+v: want %d received and written, nothing nacked, failed or outstanding", st, n)
	}
}

func decodeWith(t *testing.T, s *contract.Schema, data []byte) proto.Message {
	t.Helper()
	m := s.NewMessage()
	if err := proto.Unmarshal(data, m); err != nil {
		t.Fatal(err)
	}
	return m.Interface()
}

func TestSinkErrorsAreRetriedUntilWritten(t *testing.T) {
	t.Parallel()
	refuse := func(id string) bool { // a fifth of the events, chosen by id
		h := fnv.New32a()
		h.Write([]byte(id))
		return h.Sum32()%5 == 0
	}
	cases := []struct {
		name  string
		fault func() processortest.Fault
		// want is the least number of nacks.
		want int64
	}{
		{"the sink is down for its first writes", func() processortest.Fault {
			var mu sync.Mutex
			calls := 0
			return func(_ context.Context, b *sink.Batch) error {
				mu.Lock()
				defer mu.Unlock()
				if calls++; calls <= 3 {
					return errors.New("warehouse unavailable")
				}
				return nil
			}
		}, 3},
		{"a batch error refuses some events once", func() processortest.Fault {
			var mu sync.Mutex
			refused := map[string]bool{}
			return func(_ context.Context, b *sink.Batch) error {
				mu.Lock()
				defer mu.Unlock()
				failed := map[int]error{}
				for i, ev := range b.Events {
					if refuse(ev.ID) && !refused[ev.ID] {
						refused[ev.ID] = true
						failed[i] = errors.New("row conflict, retry")
					}
				}
				if len(failed) == 0 {
					return nil
				}
				return &sink.BatchError{Failed: failed}
			}
		}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, fast)
			ids := e.publish(t, 300)
			s := processortest.New()
			s.SetFault(c.fault())
			r := e.start(t, s)
			e.waitFor(t, "every event despite sink errors", 20*time.Second, func() bool { return s.Len() == len(ids) && r.p.Stats().Acked == int64(len(ids)) })
			msgs := e.messages(envelope.EventsTopic)
			for _, id := range ids {
				// Written once: what the sink stored was acked, not redelivered.
				if s.Writes(id) != 1 || msgs[id].Acks != 1 {
					t.Fatalf("event %s written %d times, acked %d times; want once each", id, s.Writes(id), msgs[id].Acks)
				}
			}
			if st := r.p.Stats(); st.Nacked < c.want || st.Failed != 0 {
				t.Fatalf("stats %+v: want at least %d nacks and nothing sent to hem-failed", st, c.want)
			}
		})
	}
}

func TestPermanentFailuresBecomeFailedEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	good := e.publish(t, 50, "shop.orders.v1.OrderPlaced")
	placed := e.bySubj["shop.orders.v1.OrderPlaced"]
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	bad := func(id string, schemaID int64) map[string]string {
		envl := envelope.Envelope{EventID: id, Type: placed.Subject, SchemaID: schemaID, EventTime: at, Producer: "app", Attributes: map[string]string{"shop": "42"}}
		return envl.Encode()
	}
	e.publishRaw(t, envelope.EventsTopic, []byte{0xff, 0xff, 0xff, 0x01, 0x02}, bad("corrupt", placed.ID))
	e.publishRaw(t, envelope.EventsTopic, []byte{0x08, 0x01}, bad("unknown-schema", 999))
	wrongType := bad("wrong-type", e.bySubj["shop.members.v1.MemberRegistered"].ID)
	e.publishRaw(t, envelope.EventsTopic, nil, wrongType)
	e.publishRaw(t, envelope.EventsTopic, []byte("x"), map[string]string{envelope.AttrEventID: "no-envelope", "k": "v"})
	fromFile := &eventv1.Origin{Source: "catalogue", Uri: "gs://hem-landing/products/2026-12-01.csv", Generation: 7, Line: 12}
	e.publishRaw(t, envelope.EventsTopic, []byte{0xff, 0xff, 0xff, 0x01, 0x02}, envelope.Lineage(bad("from-a-file", placed.ID), fromFile))

	s := processortest.New()
	s.SetFault(func(_ context.Context, b *sink.Batch) error { // the sink refuses two events for good
		failed := map[int]error{}
		for i, ev := range b.Events {
			switch ev.ID {
			case good[7]:
				failed[i] = sink.Permanentf("column too long")
			case good[8]:
				failed[i] = sink.DuplicateID(ev.ID)
			}
		}
		if len(failed) > 0 {
			return &sink.BatchError{Failed: failed}
		}
		return nil
	})
	r := e.start(t, s)
	e.waitFor(t, "48 good events and 7 failures", 20*time.Second, func() bool {
		st := r.p.Stats()
		return s.Len() == 48 && st.Failed == 7 && st.Acked == 55
	})

	failed := e.failedEvents(t)
	cases := []struct {
		id      string
		stage   eventv1.Stage
		reason  eventv1.Reason
		message string
	}{
		{"corrupt", eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_DECODE_FAILED, "payload is not a shop.orders.v1.OrderPlaced"},
		{"unknown-schema", eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_SCHEMA_NOT_FOUND, "schema id 999"},
		{"wrong-type", eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_INVALID_ENVELOPE, "shop.members.v1.MemberRegistered"},
		{"no-envelope", eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_INVALID_ENVELOPE, envelope.AttrType},
		{"from-a-file", eventv1.Stage_STAGE_DECODE, eventv1.Reason_REASON_DECODE_FAILED, "payload is not a shop.orders.v1.OrderPlaced"},
		{good[7], eventv1.Stage_STAGE_LOAD, eventv1.Reason_REASON_LOAD_REJECTED, "column too long"},
		{good[8], eventv1.Stage_STAGE_LOAD, eventv1.Reason_REASON_DUPLICATE_ID_DIFFERENT_PAYLOAD, "different event under an id"},
	}
	published := e.messages(envelope.EventsTopic)
	for _, c := range cases {
		fes := failed[c.id]
		if len(fes) != 1 {
			t.Fatalf("%d failed events for %q, want 1", len(fes), c.id)
		}
		fe := fes[0]
		if fe.GetStage() != c.stage || fe.GetReason() != c.reason || !strings.Contains(fe.GetMessage(), c.message) || fe.GetFailedAt() == nil || fe.GetAttempts() != 1 {
			t.Fatalf("failed event %q: stage %v reason %v message %q attempts %d; want %v %v %q 1", c.id,
				fe.GetStage(), fe.GetReason(), fe.GetMessage(), fe.GetAttempts(), c.stage, c.reason, c.message)
		}
		var original eventv1.Event
		if err := proto.Unmarshal(fe.GetOriginal(), &original); err != nil {
			t.Fatalf("failed event %q: original is not an Event: %v", c.id, err)
		}
		m := published[c.id]
		if original.GetEventId() != c.id || string(original.GetPayload().GetValue()) != string(m.Data) ||
			original.GetPayload().GetTypeUrl() != "type.googleapis.com/"+m.Attributes[envelope.AttrType] {
			t.Fatalf("failed event %q: original %v does not keep the message's id, type and bytes", c.id, &original)
		}
		if m.Acks != 1 {
			t.Fatalf("message of %q acked %d times after its failed event was published", c.id, m.Acks)
		}
		// The file an event came from stays with its failure.
		if want := map[bool]*eventv1.Origin{true: fromFile}[c.id == "from-a-file"]; !proto.Equal(fe.GetOrigin(), want) {
			t.Fatalf("failed event %q: origin %v, want %v", c.id, fe.GetOrigin(), want)
		}
	}
	if fe := failed["unknown-schema"][0]; fe.GetSchemaId() != 999 || fe.GetType() != placed.Subject || fe.GetProducer() != "app" {
		t.Fatalf("failed event: schema id %d type %q producer %q", fe.GetSchemaId(), fe.GetType(), fe.GetProducer())
	}
	var original eventv1.Event
	_ = proto.Unmarshal(failed["corrupt"][0].GetOriginal(), &original)
	if original.GetSchemaId() != placed.ID || !original.GetEventTime().AsTime().Equal(at) || len(original.GetAttributes()) != 2 || original.GetAttributes()["shop"] != "42" ||
		original.GetAttributes()[envelope.AttrPII] != envelope.PIIApplied {
		t.Fatalf("the original event lost its schema id, time or attributes: %v", &original)
	}
}

func TestEventsOfTwoVersionsBothArrive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	v1, v2 := sinktest.V2(t)
	e.schemas.add(v2)
	g, _ := sample.NewGenerator(1, []string{v1.Subject}, 0)
	note := v2.Descriptor().Fields().ByName("note")
	withNote := func() []byte {
		data, _ := proto.Marshal(g.Next().Message)
		m := v2.NewMessage()
		_ = proto.Unmarshal(data, m)
		m.Set(note, protoreflect.ValueOfString("ring twice"))
		out, _ := proto.Marshal(m.Interface())
		return out
	}
	publish := func(id string, s *contract.Schema, data []byte) {
		envl := envelope.Envelope{EventID: id, Type: s.Subject, SchemaID: s.ID, EventTime: time.Now()}
		e.publishRaw(t, envelope.EventsTopic, data, envl.Encode())
	}
	want := map[string]int64{}
	for i := range 6 {
		id := fmt.Sprint("v1-", i)
		data, _ := proto.Marshal(g.Next().Message)
		publish(id, v1, data)
		want[id] = v1.ID
		id = fmt.Sprint("v2-", i)
		publish(id, v2, withNote())
		want[id] = v2.ID
	}
	// A version 2 payload that claims to be version 1 must not lose its note.
	publish("v2-as-v1", v1, withNote())

	s := processortest.New()
	r := e.start(t, s)
	e.waitFor(t, "12 events of two versions and one failure", 10*time.Second, func() bool { return s.Len() == 12 && r.p.Stats().Failed == 1 })
	for id, ev := range s.Events() {
		if ev.Schema.ID != want[id] {
			t.Fatalf("event %s decoded with schema %d, want %d", id, ev.Schema.ID, want[id])
		}
		if ev.Schema.ID == v2.ID && ev.Message.Get(ev.Message.Descriptor().Fields().ByName("note")).String() != "ring twice" {
			t.Fatalf("event %s lost the field version 2 added", id)
		}
	}
	if fes := e.failedEvents(t)["v2-as-v1"]; len(fes) != 1 || fes[0].GetReason() != eventv1.Reason_REASON_UNKNOWN_FIELDS {
		t.Fatalf("a payload with fields its schema lacks: failed events %v, want one UNKNOWN_FIELDS", fes)
	}
	if r.p.Stats().Nacked != 0 {
		t.Fatal("a version was nacked")
	}
}

func TestReplicasShareASubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	ids := e.publish(t, 1000)
	warehouse := processortest.New()
	a := e.start(t, warehouse, processor.WithPullers(1, 50))
	b := e.start(t, warehouse, processor.WithPullers(1, 50))
	e.waitFor(t, "both replicas to finish", 20*time.Second, func() bool {
		return warehouse.Len() == len(ids) && a.p.Stats().Acked+b.p.Stats().Acked == int64(len(ids))
	})
	sa, sb := a.p.Stats(), b.p.Stats()
	if sa.Written == 0 || sb.Written == 0 {
		t.Fatalf("one replica did all the work: %d and %d", sa.Written, sb.Written)
	}
	for id, m := range e.messages(envelope.EventsTopic) {
		if m.Acks != 1 || warehouse.Writes(id) != 1 {
			t.Fatalf("event %s acked %d times and written %d times; want once", id, m.Acks, warehouse.Writes(id))
		}
	}
}

func TestLeasesOutliveTheAckDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	ids := e.publish(t, 100)
	s := processortest.New()
	// Batches wait 15 s (3 s of wall time), longer than the subscription's
	// 10 s ack deadline: without extensions Pub/Sub would redeliver them.
	r := e.start(t, s, processor.WithBatch(1000, 1<<20, 15*time.Second))
	e.waitFor(t, "the batch", 20*time.Second, func() bool { return s.Len() == len(ids) && r.p.Stats().Acked == int64(len(ids)) })
	for id, m := range e.messages(envelope.EventsTopic) {
		extended := false
		for _, ma := range m.Modacks {
			extended = extended || ma.AckDeadline == 10
		}
		if m.Deliveries != 1 || s.Writes(id) != 1 || !extended {
			t.Fatalf("event %s: %d deliveries, %d writes, extended %v; want 1, 1 and true", id, m.Deliveries, s.Writes(id), extended)
		}
	}
}

func TestFullOutstandingWritesBeforeTheBatchAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	e.publish(t, 600)
	s := processortest.New()
	// Batches would wait an hour, but only 200 messages may be held: the
	// processor must write what it holds instead of stalling. What is left
	// when the subscription is empty (less than the bound) waits for the
	// batch age, or here the drain.
	r := e.start(t, s, processor.WithBatch(100_000, 1<<30, time.Hour), processor.WithMaxOutstanding(200, 1<<30), processor.WithPullers(1, 100))
	e.waitFor(t, "all pulled and all but the last 200 written long before the batch age", 20*time.Second, func() bool {
		return r.p.Stats().Received == 600 && s.Len() >= 400
	})
	if st := r.p.Stats(); st.Outstanding > 200 {
		t.Fatalf("stats %+v: more than 200 held", st)
	}
	if err := r.stop(t); err != nil || s.Len() != 600 {
		t.Fatalf("after the drain %d of 600 written, Run: %v", s.Len(), err)
	}
}

func TestReadyReportsPulls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	ok := e.start(t, processortest.New())
	e.waitFor(t, "a successful pull", 10*time.Second, func() bool { return ok.p.Ready() == nil })
	missing := e.startWith(t, processor.NewSubscriptionPuller(e.client, "no-such-subscription"), processortest.New(), nil)
	e.waitFor(t, "Ready to name the missing subscription", 10*time.Second, func() bool {
		err := missing.p.Ready()
		return err != nil && strings.Contains(err.Error(), "no-such-subscription")
	})
	if err := missing.stop(t); err != nil {
		t.Fatalf("a processor that never pulled stopped with %v", err)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fast)
	ids := e.publish(t, 200, "shop.orders.v1.OrderPlaced")
	e.publishRaw(t, envelope.EventsTopic, []byte("x"), map[string]string{"k": "v"})
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	s := processortest.New()
	r := e.start(t, s, processor.WithMeterProvider(mp), processor.WithName("events"))
	e.waitFor(t, "all settled", 20*time.Second, func() bool { return r.p.Stats().Acked == int64(len(ids))+1 })

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					if name, _ := dp.Attributes.Value("processor"); name.AsString() != "events" {
						t.Fatalf("%s without processor=events: %v", m.Name, dp.Attributes)
					}
					key := m.Name
					for _, k := range []attribute.Key{"type", "outcome"} {
						if v, ok := dp.Attributes.Value(k); ok {
							key += " " + v.AsString()
						}
					}
					got[key] += dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					got[m.Name] += int64(dp.Count)
				}
			}
		}
	}
	want := map[string]int64{
		"hem.processor.messages received": 201,
		"hem.processor.messages acked":    201,
		"hem.processor.messages failed":   1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	st := r.p.Stats()
	if got["hem.processor.batches shop.orders.v1.OrderPlaced ok"] != st.Batches || got["hem.processor.write.duration"] != st.Batches {
		t.Fatalf("batch metrics %v, want %d batches", got, st.Batches)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	e := &schemas{}
	pub := processor.FailedPublisherFunc(func(context.Context, *eventv1.FailedEvent) error { return nil })
	puller := processor.NewSubscriptionPuller(nil, "projects/p/subscriptions/s")
	cases := []struct {
		name string
		opts []processor.Option
	}{
		{"empty batch", []processor.Option{processor.WithBatch(0, 1, time.Second)}},
		{"no pullers", []processor.Option{processor.WithPullers(0, 1000)}},
		{"outstanding below a pull", []processor.Option{processor.WithMaxOutstanding(10, 1<<30)}},
		{"outstanding bytes below a message", []processor.Option{processor.WithMaxOutstanding(10_000, 1<<20)}},
		{"ack deadline under Pub/Sub's minimum", []processor.Option{processor.WithAckDeadline(time.Second)}},
		{"backoff beyond Pub/Sub's longest deadline", []processor.Option{processor.WithBackoff(time.Second, time.Hour)}},
		{"no drain", []processor.Option{processor.WithDrainTimeout(0)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, err := processor.New(puller, processortest.New(), e, pub, c.opts...); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	if _, err := processor.New(puller, processortest.New(), nil, pub); err == nil {
		t.Fatal("New accepted an events processor without schemas")
	}
	if _, err := processor.New(puller, processortest.New(), nil, nil, processor.WithFailedMode()); err != nil {
		t.Fatalf("a failed-mode processor needs no schemas nor failed publisher: %v", err)
	}
}
