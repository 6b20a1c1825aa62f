package collector_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// FuzzCollect sends arbitrary payload bytes, under arbitrary type names,
// through the collector's core as the gRPC and HTTP edges hand it events:
// the request check, the envelope checks, the registry, the payload check
// that guards hyperpb, validation, PII handling and the FailedEvent of a
// rejection. Every event gets exactly one answer, ACCEPTED or REJECTED
// (the registry and Pub/Sub are up, so never RETRY) with a reason, and a
// valid event of the same batch is ACCEPTED.
//
// The payload goes in twice: once in an allocation of its own size (as
// gRPC delivers it) and once inside a larger buffer followed by bytes that
// would continue it (as in a request): a decoder that reads past the
// payload's end answers differently, or crashes.
//
// It calls the core in-process, without publishing (PrepareDirect):
// publishing to the Pub/Sub fake cost most of each execution and made
// coverage noisy. The gRPC edge and the publish are tested on their own.
func FuzzCollect(f *testing.F) {
	st, err := collectortest.Start(f.Context(), "../proto")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	order, _ := proto.Marshal(orderPlaced(2))
	member, _ := proto.Marshal(memberRegistered())
	f.Add(order, "shop.orders.v1.OrderPlaced")
	f.Add(member, "shop.members.v1.MemberRegistered")
	f.Add([]byte{0xff}, "shop.orders.v1.OrderPlaced")
	f.Add(order, "")
	f.Add(order, "shop.members.v1.MemberRegistered")
	f.Add([]byte("SSSSSSSS"), "shop.orders.v1.OrderPlaced")
	f.Add([]byte("R\x80\x80\x80\x80\x01SS"), "shop.orders.v1.OrderPlaced")
	f.Fuzz(func(t *testing.T, payload []byte, subject string) {
		if !utf8.ValidString(subject) {
			// A type URL is a proto3 string: a conforming client cannot send
			// invalid UTF-8 in it (its own marshalling refuses).
			t.Skip()
		}
		inside := collector.InLargerBuffer(payload, "SSSSSSSS\x80\x80\x80\x80\x80R\x80\x80\x80\x80\x01SS")
		got, err := st.Collector.PrepareDirect(t.Context(), []*eventv1.Event{
			rawEvent("", subject, bytes.Clone(payload)),
			rawEvent("fixed-id", "shop.orders.v1.OrderPlaced", order),
			rawEvent("", subject, inside),
		})
		if err != nil {
			t.Fatalf("collect: %v", err)
		}
		if len(got) != 3 {
			t.Fatalf("%d results for 3 events", len(got))
		}
		for _, p := range got {
			checkAnswer(t, p)
		}
		if r := got[1].Result; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("the valid event of the batch: %v", r)
		}
		if g, d := got[0].Result, got[2].Result; d.GetStatus() != g.GetStatus() || d.GetReason() != g.GetReason() || d.GetMessage() != g.GetMessage() {
			t.Fatalf("payload inside a larger buffer: %v; on its own: %v", d, g)
		}
	})
}

// checkAnswer fails unless p is a final answer with a reason: ACCEPTED and
// published, or REJECTED with a reason and a message and its FailedEvent
// published.
func checkAnswer(t *testing.T, p collector.Answer) {
	t.Helper()
	r := p.Result
	if r.GetEventId() == "" {
		t.Fatalf("result without an id: %v", r)
	}
	switch r.GetStatus() {
	case collectorv1.EventStatus_EVENT_STATUS_ACCEPTED:
		if !p.Published || p.Failed != nil {
			t.Fatalf("ACCEPTED without its publish: %v", r)
		}
	case collectorv1.EventStatus_EVENT_STATUS_REJECTED:
		if r.GetReason() == eventv1.Reason_REASON_UNSPECIFIED || r.GetMessage() == "" {
			t.Fatalf("REJECTED without a reason or message: %v", r)
		}
		fe := p.Failed
		if fe == nil {
			t.Fatalf("REJECTED without a FailedEvent: %v", r)
		}
		if fe.GetReason() != r.GetReason() || fe.GetEventId() != r.GetEventId() || !strings.HasPrefix(fe.GetMessage(), r.GetMessage()) {
			t.Fatalf("FailedEvent %v of answer %v", fe, r)
		}
	default:
		// Nothing is down here: RETRY would be a permanent problem the
		// producer resends for ever.
		t.Fatalf("answer %v", r)
	}
}
