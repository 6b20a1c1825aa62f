package collector

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// FuzzPeekRequest holds the gRPC edge's hand-written walk of an encoded
// request (peekRequest, which charges and limits a request before it is
// decoded) to the reference decoder: whenever proto.Unmarshal decodes the
// bytes as a CollectRequest or a CollectStreamRequest, the walk counted
// the same events, read the same sequence and event ids, and counted at
// least the attributes decoding built (entries with one key collapse).
func FuzzPeekRequest(f *testing.F) {
	payload := &anypb.Any{TypeUrl: "type.googleapis.com/shop.orders.v1.OrderPlaced", Value: []byte{0x0a, 0x01, 'x'}}
	events := []*eventv1.Event{
		{EventId: "e-1", Payload: payload, Attributes: map[string]string{"a": "1", "b": "2"}},
		{EventId: "é-2", SchemaId: 3},
		{},
	}
	for _, m := range []proto.Message{
		&collectorv1.CollectRequest{Events: events},
		&collectorv1.CollectStreamRequest{Sequence: 42, Events: events},
		&collectorv1.CollectStreamRequest{},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\x0a\x04\x0a\x02id\x0a\x04\x0a\x02jd")) // an id sent twice: the last one counts
	f.Add([]byte("\x08\x01\x08\x02\x12\x00"))
	lim := Limits{}.withDefaults()
	f.Fuzz(func(t *testing.T, b []byte) {
		b = inLargerBuffer(b, wireTrailerB) // as inside a received buffer
		for _, stream := range []bool{false, true} {
			var seq uint64
			var evs []*eventv1.Event
			if stream {
				var req collectorv1.CollectStreamRequest
				if proto.Unmarshal(b, &req) != nil {
					continue
				}
				seq, evs = req.GetSequence(), req.GetEvents()
			} else {
				var req collectorv1.CollectRequest
				if proto.Unmarshal(b, &req) != nil {
					continue
				}
				evs = req.GetEvents()
			}
			h := peekRequest(b, stream, lim)
			if h.events != len(evs) || h.sequence != seq {
				t.Fatalf("stream %v: walk read %d events, sequence %d; decoder %d, %d: %q", stream, h.events, h.sequence, len(evs), seq, b)
			}
			attrs := 0
			for i, e := range evs {
				attrs += len(e.GetAttributes())
				if i < len(h.ids) && h.ids[i] != e.GetEventId() {
					t.Fatalf("stream %v: event %d: walk read id %q, decoder %q: %q", stream, i, h.ids[i], e.GetEventId(), b)
				}
			}
			if want := min(len(evs), lim.MaxBatchEvents); len(h.ids) != want {
				t.Fatalf("stream %v: walk kept %d ids, want %d", stream, len(h.ids), want)
			}
			if h.attrs < attrs {
				t.Fatalf("stream %v: walk counted %d attributes, decoding built %d: %q", stream, h.attrs, attrs, b)
			}
		}
	})
}
