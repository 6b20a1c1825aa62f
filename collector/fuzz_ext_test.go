package collector_test

import (
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/collector/collectortest"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
)

// FuzzCollect sends arbitrary payload bytes, under several type names,
// through the whole gRPC service: every event gets exactly one answer with
// a status, and the service stays up.
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
	})
}
