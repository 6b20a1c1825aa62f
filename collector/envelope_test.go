package collector_test

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/collector/collectortest"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// TestEnvelopeRefusesDuplicatesAndUnknownFields: nothing a producer sends
// in the envelope is dropped silently. Over HTTP a repeated or misspelled
// key is refused (encoding/json kept the last "events" and dropped the
// first batch); over gRPC fields the API does not declare are refused, as
// HTTP refuses unknown names.
func TestEnvelopeRefusesDuplicatesAndUnknownFields(t *testing.T) {
	t.Parallel()
	st := start(t)
	jsonEvent := func(id string) string {
		return `{"eventId":"` + id + `","payload":` + strings.ReplaceAll(orderJSON, "QTY", "1") + `}`
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"events twice", `{"events":[` + jsonEvent("dup-a") + `],"events":[` + jsonEvent("dup-b") + `]}`, `duplicate field \"events\"`},
		{"events in another case", `{"events":[` + jsonEvent("case-a") + `],"Events":[` + jsonEvent("case-b") + `]}`, `unknown field \"Events\"`},
		{"unknown key", `{"events":[` + jsonEvent("unk-a") + `],"extra":1}`, `unknown field \"extra\"`},
	} {
		code, answer := post(t, st, collectortest.APIKey, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(answer, tc.want) {
			t.Errorf("%s: %d %s; want 400 naming the field (%s)", tc.name, code, answer, tc.want)
		}
	}
	if n := len(st.Published(envelope.EventsTopic)); n != 0 {
		t.Errorf("%d events of refused requests published", n)
	}
	// A key repeated inside an event is refused for that event.
	body := `{"events":[{"eventId":"in-a","eventId":"in-b","payload":` + strings.ReplaceAll(orderJSON, "QTY", "1") + `}]}`
	if code, answer := post(t, st, collectortest.APIKey, body); code != http.StatusOK || !strings.Contains(answer, "REJECTED") || !strings.Contains(answer, "duplicate") {
		t.Errorf("event with a repeated key: %d %s", code, answer)
	}

	c := dial(t, st.Addr)
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 42, protowire.VarintType), 1)
	req := &collectorv1.CollectRequest{Events: []*eventv1.Event{event(t, "g-1", orderPlaced(1))}}
	req.ProtoReflect().SetUnknown(unknown)
	_, err := c.Collect(withKey(t.Context(), collectortest.APIKey), req)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "CollectRequest") || !strings.Contains(err.Error(), "number 42") {
		t.Errorf("request with an unknown field: %v, want INVALID_ARGUMENT naming it", err)
	}
	for _, where := range []string{"event", "payload", "event_time"} {
		ev := event(t, "g-"+where, orderPlaced(1))
		switch where {
		case "event":
			ev.ProtoReflect().SetUnknown(unknown)
		case "payload":
			ev.Payload.ProtoReflect().SetUnknown(unknown)
		case "event_time":
			ev.EventTime = timestamppb.Now()
			ev.EventTime.ProtoReflect().SetUnknown(unknown)
		}
		r := mustCollect(t, c, ev)[0]
		if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED || r.GetReason() != eventv1.Reason_REASON_INVALID_ENVELOPE ||
			!strings.Contains(r.GetMessage(), where+" has a field") || !strings.Contains(r.GetMessage(), "number 42") {
			t.Errorf("unknown field in %s: %v", where, r)
		}
	}
}
