package collector_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// unknownFields is a payload of n bytes of 3-byte unknown fields (field
// 1000, varint 1): the most violations per byte a producer can send.
func unknownFields(n int) []byte {
	var b []byte
	for len(b)+3 <= n {
		b = protowire.AppendTag(b, 1000, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	return b
}

// A payload of a million bytes of unknown fields is REJECTED with a bounded
// report (and recorded), not answered RETRY because its FailedEvent grew
// too big to publish, and its violations do not grow with its size.
func TestUnknownFieldsReportIsBounded(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := dial(t, st.Addr)
	r := mustCollect(t, c, rawEvent("u1", "shop.orders.v1.OrderPlaced", unknownFields(1<<20)))[0]
	if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED {
		t.Fatalf("status %v, want REJECTED: %.300s", r.GetStatus(), r.GetMessage())
	}
	if n := len(r.GetViolations()); n == 0 || n > 21 {
		t.Errorf("%d violations, want a bounded few", n)
	}
	if !strings.Contains(r.GetMessage(), "more unknown fields") || len(r.GetMessage()) > 4096 {
		t.Errorf("message of %d bytes: %.300s", len(r.GetMessage()), r.GetMessage())
	}
	if n := len(st.Published(envelope.FailedTopic)); n != 1 {
		t.Errorf("%d failed events recorded, want 1", n)
	}
}

// Rejected events whose FailedEvents are large are REJECTED and every one
// recorded, as Pub/Sub takes them: the publisher sends the FailedEvents of a
// batch of nine 1 MiB payloads four to a request (over 4 MiB), and keeps a
// rejected 5 MB payload whole. A Pub/Sub that refused such a request had
// them all answered RETRY after the publish timeout, and their retries too.
func TestLargeFailedEventsAreRecorded(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := dial(t, st.Addr)
	for k, tt := range []struct {
		name     string
		payloads []int // of unknown fields, bytes each
	}{
		{"a batch of nine events of 1 MiB of unknown fields", []int{1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20}},
		{"one event of 5 MB, over the event limit", []int{5_000_000}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var evs []*eventv1.Event
			for i, n := range tt.payloads {
				evs = append(evs, rawEvent(fmt.Sprintf("large%d-%d", k, i), "shop.orders.v1.OrderPlaced", unknownFields(n)))
			}
			for i, r := range mustCollect(t, c, evs...) {
				if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED {
					t.Errorf("event %d: %v, want REJECTED: %.300s", i, r.GetStatus(), r.GetMessage())
					continue
				}
				_, orig := decodeFailedOriginal(t, failedData(t, st, evs[i].GetEventId()))
				if got, want := len(orig.GetPayload().GetValue()), len(evs[i].GetPayload().GetValue()); got != want {
					t.Errorf("event %d: the recorded original keeps %d payload bytes, want %d", i, got, want)
				}
			}
		})
	}
}
