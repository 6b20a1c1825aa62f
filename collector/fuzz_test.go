package collector

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector/codec"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// FuzzProcess feeds arbitrary bytes to the hot path of several contracts:
// it must never panic, must answer with exactly one of output or
// rejection, and what it accepts must be a fixed point (re-processing the
// output of a contract without PII gives the same bytes).
//
// Each input lies inside a larger buffer, followed by bytes that would
// continue it (as a producer's payload lies inside a request): a decoder
// that reads past the payload's end then answers differently for two
// different trailers, or crashes. That is how hyperpb's over-read (see the
// package doc) is found.
func FuzzProcess(f *testing.F) {
	plans := []*plan{
		newPlan(testSchema(f, "shop.orders.v1.OrderPlaced")),
		newPlan(testSchema(f, "shop.members.v1.MemberRegistered")),
		newPlan(testSchema(f, "shop.telemetry.v1.WarehouseSensorReading")),
		newPlan(compileAll(f)),
	}
	order, _ := proto.Marshal(orderPlaced(3))
	f.Add(order)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x80})
	f.Add(append(order[:len(order)-3:len(order)-3], 0xff, 0x01))
	f.Add([]byte{0xfa, 0x3e, 0x02, 0x08, 0x01}) // field 1000
	h := codec.NewHasher([]byte("fuzz-salt-0123456789"))
	f.Add([]byte("SSSSSSSS"))
	f.Add([]byte("R\x80\x80\x80\x80\x01SS"))
	f.Fuzz(func(t *testing.T, input []byte) {
		payload, other := inLargerBuffers(input)
		for _, p := range plans {
			out, _, rej := p.process(payload, h, nil, false)
			out2, _, rej2 := p.process(other, h, nil, false)
			if !bytes.Equal(out, out2) || (rej == nil) != (rej2 == nil) || (rej != nil && rej.message != rej2.message) {
				t.Fatalf("%s: the bytes after the payload changed the answer: %x, %v; then %x, %v", p.schema.Subject, out, rej, out2, rej2)
			}
			if (out == nil) == (rej == nil) && !(rej == nil && len(out) == 0) {
				t.Fatalf("%s: out %x and rejection %v", p.schema.Subject, out, rej)
			}
			if rej != nil && rej.message == "" {
				t.Fatalf("%s: rejection without a message", p.schema.Subject)
			}
			if rej == nil && !p.hasPII {
				again, _, rej2 := p.process(out, h, nil, false)
				if rej2 != nil || !bytes.Equal(again, out) {
					t.Fatalf("%s: output %x is not a fixed point: %x, %v", p.schema.Subject, out, again, rej2)
				}
			}
		}
	})
}

// Trailers put after fuzz inputs: start-group tags, a varint that never
// ends, a length prefix longer than what is left; and JSON that would
// continue an object.
const (
	wireTrailerA = "SSSSSSSSSSSSSSSS\x80\x80\x80\x80\x80\x80\x80\x80\x80"
	wireTrailerB = "\x54\x0a\x05abcde\x08\x01R\x80\x80\x80\x80\x01SS\x0c"
	jsonTrailer  = `,"x":{"y":[1,"2"]}}]}`
)

// inLargerBuffers returns input twice, each time as the start of a larger
// allocation whose following bytes differ.
func inLargerBuffers(input []byte) (a, b []byte) {
	return inLargerBuffer(input, wireTrailerA), inLargerBuffer(input, wireTrailerB)
}

// inLargerBuffer returns input as buf[:len(input)] of a buffer that
// continues with trailer.
func inLargerBuffer(input []byte, trailer string) []byte {
	buf := append(append(make([]byte, 0, len(input)+len(trailer)), input...), trailer...)
	return buf[:len(input)]
}

var _ = contract.Usable

// Answer is an event's answer as the core decided it before publishing,
// and the FailedEvent a rejection would publish.
type Answer struct {
	Result *collectorv1.EventResult
	// Published says the core handed a message to Pub/Sub (the answer
	// then stands once the publish is confirmed).
	Published bool
	Failed    *eventv1.FailedEvent
}

// PrepareDirect runs what collect runs on its worker for a producer that
// may send every type (the request check, then every check and transform
// of each event, FailedEvents included), without publishing and without
// copying the events. FuzzCollect calls it for every input: a publish
// waits for the Pub/Sub batch delay and a round trip, and its background
// goroutines make coverage differ from run to run, so the fuzzer spent its
// time minimizing inputs that were not new.
func (c *Collector) PrepareDirect(ctx context.Context, events []*eventv1.Event) ([]Answer, error) {
	p := &auth.Principal{Name: "test-producer", Types: []string{"*"}}
	if err := c.checkRequest(ctx, p, len(events), func(i int) string { return subjectOf(events[i]) }); err != nil {
		return nil, err
	}
	now := c.cfg.now()
	res := resolver{c: c, ctx: ctx}
	out := make([]Answer, len(events))
	for i, e := range events {
		pp := c.prepare(&res, p, &Input{Event: e}, now, nil, true)
		sanitizeResult(pp.result)
		out[i] = Answer{Result: pp.result, Published: pp.msg != nil}
		if pp.failed {
			fe, err := envelope.DecodeFailed(pp.msg.Data)
			if err != nil {
				return nil, err
			}
			out[i].Failed = fe
		}
	}
	return out, nil
}

// compileAll compiles the codec's test contract of every kind (see
// codec/testdata/all.proto).
func compileAll(tb testing.TB) *contract.Schema {
	tb.Helper()
	b, err := os.ReadFile("codec/testdata/all.proto")
	if err != nil {
		tb.Fatal(err)
	}
	src, err := contract.CompileSources(tb.Context(), map[string]string{"codec/v1/all.proto": string(b)})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := src.Schema("codec.v1.All")
	if err != nil {
		tb.Fatal(err)
	}
	return s.WithIdentity(1, 1, contract.Usable, time.Time{})
}
