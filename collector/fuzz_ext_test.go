package collector_test

import (
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// FuzzCollect sends arbitrary payload bytes, under several type names,
// through the whole gRPC service: every event gets exactly one answer with
// a status, and the service stays up. The same event also goes to the core
// directly with its payload inside a larger buffer (as in a request), and
// must get the same answer: a decoder that reads past the payload's end
// answers differently, or crashes.
func FuzzCollect(f *testing.F) {
	st, err := collectortest.Start(f.Context(), "../proto")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	c := dial(f, st.Addr)
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
		resp, err := collect(t, c, collectortest.APIKey, rawEvent("", subject, payload), rawEvent("fixed-id", "shop.orders.v1.OrderPlaced", order))
		if err != nil {
			t.Fatalf("Collect: %v", err)
		}
		rs := resp.GetResults()
		if len(rs) != 2 {
			t.Fatalf("%d results for 2 events", len(rs))
		}
		for _, r := range rs {
			if r.GetStatus() == collectorv1.EventStatus_EVENT_STATUS_UNSPECIFIED || r.GetEventId() == "" {
				t.Fatalf("result without status or id: %v", r)
			}
		}
		if rs[1].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("the valid event of the batch: %v", rs[1])
		}
		inside := collector.InLargerBuffer(payload, "SSSSSSSS\x80\x80\x80\x80\x80R\x80\x80\x80\x80\x01SS")
		direct, err := st.Collector.CollectDirect(t.Context(), []*eventv1.Event{rawEvent("", subject, inside)})
		if err != nil {
			t.Fatalf("collect: %v", err)
		}
		if d, g := direct[0], rs[0]; d.GetStatus() != g.GetStatus() || d.GetReason() != g.GetReason() || d.GetMessage() != g.GetMessage() {
			t.Fatalf("payload inside a larger buffer: %v; over gRPC: %v", d, g)
		}
	})
}
