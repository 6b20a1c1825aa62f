package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/sink/sinktest"
	"github.com/hemlabs/hem/sink/sinktest/sample"
	"github.com/hemlabs/hem/wire"
)

var errUnknownID = errors.New("unknown schema id")

type mapSchemas map[int64]*contract.Schema

func (m mapSchemas) ByID(_ context.Context, id int64) (*contract.Schema, error) {
	if s, ok := m[id]; ok {
		return s, nil
	}
	return nil, errUnknownID
}

func isUnknownID(err error) bool { return errors.Is(err, errUnknownID) }

func sampleSchemas(t testing.TB) mapSchemas {
	out := mapSchemas{}
	for _, s := range sinktest.Schemas(t) {
		out[s.ID] = s
	}
	return out
}

func samplePayload(t testing.TB, subject string) []byte {
	g, err := sample.NewGenerator(7, []string{subject}, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := proto.Marshal(g.Next().Message)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// FuzzDecode: whatever arrives on the topic, decoding never panics, and a
// message that cannot be decoded becomes a FailedEvent that can be
// published and that keeps the message's id and bytes for a replay.
func FuzzDecode(f *testing.F) {
	schemas := sampleSchemas(f)
	placed := sinktest.Schemas(f)["shop.orders.v1.OrderPlaced"]
	data := samplePayload(f, placed.Subject)
	id := strconv.FormatInt(placed.ID, 10)
	f.Add(data, "e-1", placed.Subject, id, "2026-01-02T03:04:05Z")
	f.Add(data[:len(data)/2], "e-2", placed.Subject, id, "2026-01-02T03:04:05.123456789+02:00")
	f.Add(append([]byte{0xfa, 0x3e, 0x01, 0x01}, data...), "e-3", placed.Subject, id, "2026-01-02T03:04:05Z") // field 999
	f.Add(data, "e-4", "shop.members.v1.MemberRegistered", id, "2026-01-02T03:04:05Z")
	f.Add([]byte{0xff}, "", "", "", "")
	f.Add(data, "e-5", placed.Subject, "999", "yesterday")
	f.Fuzz(func(t *testing.T, data []byte, eventID, subject, schemaID, at string) {
		attrs := map[string]string{"region": "eu"}
		for k, v := range map[string]string{envelope.AttrEventID: eventID, envelope.AttrType: subject, envelope.AttrSchemaID: schemaID, envelope.AttrEventTime: at} {
			if !utf8.ValidString(v) {
				t.Skip("Pub/Sub attributes are UTF-8")
			}
			if v != "" {
				attrs[k] = v
			}
		}
		// The fast check never clears what decoding rejects or the exact
		// unknown-field check flags.
		if s := schemas[placed.ID]; wire.Known(data, s.Descriptor()) {
			msg := s.NewMessage()
			if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(data, msg); err != nil {
				t.Fatalf("wire.Known passed a payload that does not decode: %v", err)
			}
			if hasUnknown(msg) {
				t.Fatal("wire.Known passed a payload with unknown fields")
			}
		}
		m := &Message{AckID: "a-1", ID: "m-1", Data: data, Attributes: attrs, PublishTime: time.Unix(1700000000, 0)}
		ev, err := decode(context.Background(), schemas, &parsers{}, isUnknownID, m, false)
		// A sink of payloads gets the same outcome without the decoding.
		pev, perr := decode(context.Background(), schemas, nil, isUnknownID, m, true)
		if (err == nil) != (perr == nil) || (err != nil && err.Error() != perr.Error()) {
			t.Fatalf("payload-only decoding says %v, full decoding %v", perr, err)
		}
		if err == nil && (pev.ID != ev.ID || string(pev.Payload) != string(ev.Payload) || pev.Schema != ev.Schema) {
			t.Fatal("payload-only decoding made another event")
		}
		if err == nil {
			if ev.ID != eventID || ev.Schema.Subject != subject || string(ev.Message.Descriptor().FullName()) != subject || hasUnknown(ev.Message) {
				t.Fatalf("decoded %q as a %s (schema %s) with id %q", subject, ev.Message.Descriptor().FullName(), ev.Schema.Subject, ev.ID)
			}
			if _, err := proto.Marshal(ev.Message.Interface()); err != nil {
				t.Fatalf("a decoded event does not encode again: %v", err)
			}
		} else {
			var de *decodeError
			if !errors.As(err, &de) {
				t.Fatalf("a message that will never decode was not classified as such: %v", err)
			}
			fe := failedEvent(m, eventv1.Stage_STAGE_DECODE, de.reason, de, 2, time.Now())
			if _, _, err := envelope.EncodeFailed(fe); err != nil {
				t.Fatalf("the failed event cannot be published: %v", err)
			}
			var original eventv1.Event
			if err := proto.Unmarshal(fe.GetOriginal(), &original); err != nil {
				t.Fatalf("the original is not an Event: %v", err)
			}
			if original.GetEventId() != eventID || string(original.GetPayload().GetValue()) != string(data) || original.GetAttributes()["region"] != "eu" {
				t.Fatalf("the original lost the id, payload or attributes: %v", &original)
			}
			if fe.GetReason() == eventv1.Reason_REASON_UNSPECIFIED || fe.GetAttempts() != 2 {
				t.Fatalf("failed event without a reason or attempts: %v", fe)
			}
		}
		if _, err := decodeFailed(m); err == nil && len(data) > 0 && proto.Unmarshal(data, &eventv1.FailedEvent{}) != nil {
			t.Fatal("decodeFailed accepted what is not a FailedEvent")
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	schemas := sampleSchemas(b)
	placed := sinktest.Schemas(b)["shop.orders.v1.OrderPlaced"]
	data := samplePayload(b, placed.Subject)
	envl := envelope.Envelope{EventID: "e-1", Type: placed.Subject, SchemaID: placed.ID, EventTime: time.Now(), ReceivedAt: time.Now(), Producer: "bench"}
	m := &Message{AckID: "a", ID: "m", Data: data, Attributes: envl.Encode(), PublishTime: time.Now()}
	for _, bc := range []struct {
		name string
		ps   *parsers
	}{{"dynamicpb", nil}, {"hyperpb", &parsers{}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decode(context.Background(), schemas, bc.ps, isUnknownID, m, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestSchedulerKeepsSubjectOrderAndOneWritePerSubject(t *testing.T) {
	t.Parallel()
	s := newScheduler(3)
	var (
		mu      sync.Mutex
		busy    = map[string]bool{}
		next    = map[string]int{} // the batch number each subject expects next
		problem error
	)
	var writers sync.WaitGroup
	for range 4 {
		writers.Go(func() {
			for b := s.take(); b != nil; b = s.take() {
				seq := int(b.bytes) // the batch number within its subject
				mu.Lock()
				switch {
				case busy[b.subject]:
					problem = fmt.Errorf("two writes of %s at once", b.subject)
				case next[b.subject] != seq:
					problem = fmt.Errorf("%s batch %d written before batch %d", b.subject, seq, next[b.subject])
				}
				busy[b.subject] = true
				next[b.subject] = seq + 1
				mu.Unlock()
				time.Sleep(time.Duration(seq%3) * 100 * time.Microsecond)
				mu.Lock()
				busy[b.subject] = false
				mu.Unlock()
				s.done(b.subject)
			}
		})
	}
	puts := map[string]int{}
	for range 50 {
		for _, subject := range []string{"a", "b", "a", "c", "a"} {
			s.put(&batch{subject: subject, bytes: int64(puts[subject])})
			puts[subject]++
		}
	}
	s.close()
	writers.Wait()
	if problem != nil {
		t.Fatal(problem)
	}
	for subject, n := range puts {
		if next[subject] != n {
			t.Fatalf("%s: %d batches written, %d put", subject, next[subject], n)
		}
	}
}

func TestDecodePayloadOnly(t *testing.T) {
	t.Parallel()
	schemas := sampleSchemas(t)
	placed := sinktest.Schemas(t)["shop.orders.v1.OrderPlaced"]
	data := samplePayload(t, placed.Subject)
	envl := envelope.Envelope{EventID: "e-1", Type: placed.Subject, SchemaID: placed.ID, EventTime: time.Now(), Producer: "test"}
	for _, tc := range []struct {
		name   string
		data   []byte
		reason eventv1.Reason // unspecified: decoded
	}{
		{name: "well-formed", data: data},
		{name: "unknown field", data: append([]byte{0xfa, 0x3e, 0x01, 0x01}, data...), reason: eventv1.Reason_REASON_UNKNOWN_FIELDS},
		{name: "truncated", data: data[:len(data)/2], reason: eventv1.Reason_REASON_DECODE_FAILED},
		// order_id (field 1) with invalid UTF-8: left to the exact path.
		{name: "invalid UTF-8", data: append([]byte{0x0a, 0x01, 0xff}, data...), reason: eventv1.Reason_REASON_DECODE_FAILED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := &Message{AckID: "a", ID: "m", Data: tc.data, Attributes: envl.Encode(), PublishTime: time.Now()}
			ev, err := decode(t.Context(), schemas, nil, isUnknownID, m, true)
			if tc.reason != eventv1.Reason_REASON_UNSPECIFIED {
				var de *decodeError
				if !errors.As(err, &de) || de.reason != tc.reason {
					t.Fatalf("decode = %v, want a %v", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Message != nil || string(ev.Payload) != string(tc.data) || ev.ID != "e-1" || ev.Schema != placed {
				t.Fatalf("payload-only event = %+v", ev)
			}
		})
	}
}
