package collector

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/collector/codec"
	"github.com/hemlabs/hem/contract"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

// TestJSONFastPathEvents: the sample events, as a producer posts them
// (envelope, Any payload, timestamps, wrappers), take the fast path and
// decode as protojson decodes them.
func TestJSONFastPathEvents(t *testing.T) {
	t.Parallel()
	src, err := contract.CompileDir(t.Context(), "../proto")
	if err != nil {
		t.Fatal(err)
	}
	gen, err := sample.NewGenerator(7, nil, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		ev := gen.Next()
		payload, err := anypb.New(ev.Message)
		if err != nil {
			t.Fatal(err)
		}
		want := &eventv1.Event{
			EventId:    fmt.Sprintf("e-%d", i),
			Payload:    payload,
			EventTime:  timestamppb.New(ev.Time.Add(time.Duration(i) * time.Microsecond)),
			Attributes: map[string]string{"tenant": "nl", "trace": fmt.Sprint(i)},
			SchemaId:   int64(i % 3),
		}
		data, err := protojson.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := src.Schema(string(ev.Message.ProtoReflect().Descriptor().FullName()))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeJSONFast(newPlan(sc.WithIdentity(1, 1, contract.Usable, time.Time{})), data)
		if !ok {
			t.Fatalf("event %d: the fast path gave up on\n%s", i, data)
		}
		// The payload bytes may differ in order: compare decoded.
		gotPayload, wantPayload := ev.Message.ProtoReflect().New().Interface(), ev.Message
		if err := proto.Unmarshal(got.GetPayload().GetValue(), gotPayload); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(gotPayload, wantPayload) || got.GetPayload().GetTypeUrl() != payload.GetTypeUrl() {
			t.Fatalf("event %d: payload %v, want %v", i, gotPayload, wantPayload)
		}
		got.Payload, want.Payload = nil, nil
		if !proto.Equal(got, want) {
			t.Fatalf("event %d: envelope %v, want %v", i, got, want)
		}
	}
}

// FuzzJSONFastPathEvent is FuzzJSONFastPath for whole events: envelope and
// Any payload of an OrderPlaced.
func FuzzJSONFastPathEvent(f *testing.F) {
	p := newPlan(testSchema(f, "shop.orders.v1.OrderPlaced"))
	payload, err := anypb.New(orderPlaced(2))
	if err != nil {
		f.Fatal(err)
	}
	seed, err := protojson.Marshal(&eventv1.Event{EventId: "e-1", Payload: payload, EventTime: timestamppb.Now(),
		Attributes: map[string]string{"k": "v"}, SchemaId: 7})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"payload":{"@type":"type.googleapis.com/shop.orders.v1.OrderPlaced"}}`))
	f.Add([]byte(`{"payload":{"orderId":"x","@type":"type.googleapis.com/shop.orders.v1.OrderPlaced"}}`))
	resolver := p.schema.Types()
	f.Fuzz(func(t *testing.T, data []byte) {
		data = inLargerBuffer(data, jsonTrailer) // as inside a request body
		got, ok := decodeJSONFast(p, data)
		if !ok {
			return
		}
		var want eventv1.Event
		if err := (protojson.UnmarshalOptions{Resolver: resolver}).Unmarshal(data, &want); err != nil {
			t.Fatalf("fast path accepted what protojson refuses (%v):\n%q", err, data)
		}
		gotPayload, wantPayload := dynamicpb.NewMessage(p.schema.Descriptor()), dynamicpb.NewMessage(p.schema.Descriptor())
		if err := proto.Unmarshal(got.GetPayload().GetValue(), gotPayload); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(want.GetPayload().GetValue(), wantPayload); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(gotPayload, wantPayload) || got.GetPayload().GetTypeUrl() != want.GetPayload().GetTypeUrl() {
			t.Fatalf("payload %v, protojson %v, from %q", gotPayload, wantPayload, data)
		}
		got.Payload, want.Payload = nil, nil
		if !proto.Equal(got, &want) {
			t.Fatalf("envelope %v, protojson %v, from %q", got, &want, data)
		}
	})
}

// FuzzJSONEnvelope holds the scanner's reading of a request body and of
// each event's head to encoding/json's: whenever the scanner reads them,
// encoding/json reads the same.
func FuzzJSONEnvelope(f *testing.F) {
	payload, err := anypb.New(orderPlaced(1))
	if err != nil {
		f.Fatal(err)
	}
	seed, err := protojson.Marshal(&collectorv1.CollectRequest{Events: []*eventv1.Event{
		{EventId: "e-1", Payload: payload, SchemaId: 7},
		{Payload: payload, Attributes: map[string]string{"k": "v"}},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"events":[{"event_id":"a","payload":{"@type":"x/y.Z","n":[1,{"a":null}]},"schema_id":"3"}]}`))
	f.Add([]byte(`{"events":[{"payload":{"@type":"x/y.Z","@TYPE":"x/y.W"}}]} `))
	f.Add([]byte(`{"events":[{"EventId":"a","payload":{"@type":"x/y.Z"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		body = inLargerBuffer(body, jsonTrailer) // as inside a request body
		raws, ok := codec.SplitEvents(body)
		if !ok {
			return
		}
		slow, err := splitEventsSlow(body)
		if err != nil {
			t.Fatalf("scanner split what encoding/json refuses (%v): %q", err, body)
		}
		if len(slow) != len(raws) {
			t.Fatalf("scanner read %d events, encoding/json %d: %q", len(raws), len(slow), body)
		}
		for i, raw := range raws {
			if !bytes.Equal(raw, slow[i]) {
				t.Fatalf("event %d: scanner %q, encoding/json %q", i, raw, slow[i])
			}
			fast, ok := codec.PeekEvent(raw)
			if !ok {
				continue
			}
			slow, err := peekEventSlow(raw)
			if err != nil || fast != slow {
				t.Fatalf("event %q: scanner read %+v, encoding/json %+v (%v)", raw, fast, slow, err)
			}
		}
	})
}

// BenchmarkDecodeJSONEvent is the HTTP endpoint's decoding of one event, an
// OrderPlaced with five items: the fast path against protojson.
func BenchmarkDecodeJSONEvent(b *testing.B) {
	p := newPlan(testSchema(b, "shop.orders.v1.OrderPlaced"))
	payload, err := anypb.New(orderPlaced(5))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := protojson.Marshal(&eventv1.Event{EventId: "e-1", Payload: payload, EventTime: timestamppb.Now()})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, ok := decodeJSONFast(p, raw); !ok {
				b.Fatal("fast path gave up")
			}
		}
	})
	b.Run("protojson", func(b *testing.B) {
		opts := protojson.UnmarshalOptions{Resolver: p.schema.Types()}
		b.ReportAllocs()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var e eventv1.Event
			if err := opts.Unmarshal(raw, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
