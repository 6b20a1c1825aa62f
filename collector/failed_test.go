package collector_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	membersv1 "github.com/hemlabs/hem/gen/shop/members/v1"
)

// personal is what memberRegistered carries that its contract hashes,
// redacts or drops.
var personal = []string{"ada@example.com", "+31612345678", "Ada Lovelace", "Lovelace", "Damrak", "1012 LG", "Amsterdam"}

// TestFailedEventsKeepNoClearPII: whatever the reason a MemberRegistered is
// rejected for, its FailedEvent (what hem-failed, the failed-events table
// and the archive's failed/ store) holds none of its personal data in
// clear; and a fixed event replays from it.
func TestFailedEventsKeepNoClearPII(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := dial(t, st.Addr)
	valid, err := proto.Marshal(memberRegistered())
	if err != nil {
		t.Fatal(err)
	}
	tooOld := memberRegistered()
	tooOld.BirthYear = wrapperspb.Int32(1800)
	withUnknown := protowire.AppendString(protowire.AppendTag(bytes.Clone(valid), 99, protowire.BytesType), "ada@example.com")
	orderID := mustSchemaID(t, st, "shop.orders.v1.OrderPlaced")
	const subject = "shop.members.v1.MemberRegistered"

	tests := []struct {
		name string
		ev   *eventv1.Event
		kept bool // the payload is kept (transformed)
	}{
		{"validation", event(t, "pii-val", tooOld), true},
		{"envelope", func() *eventv1.Event {
			e := event(t, "pii-env", memberRegistered())
			e.Attributes = map[string]string{"goog-x": "1"}
			return e
		}(), true},
		{"unknown field", rawEvent("pii-unk", subject, withUnknown), true},
		{"pinned to another type", func() *eventv1.Event {
			e := event(t, "pii-pin", memberRegistered())
			e.SchemaId = orderID
			return e
		}(), true},
		{"undecodable", rawEvent("pii-bad", subject, append(bytes.Clone(valid), 0xff)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustCollect(t, c, tt.ev)[0]
			if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED {
				t.Fatalf("%v, want REJECTED", r)
			}
			data := failedData(t, st, tt.ev.GetEventId())
			for _, p := range personal {
				if bytes.Contains(data, []byte(p)) {
					t.Errorf("%q in clear in the FailedEvent", p)
				}
			}
			fe, orig := decodeFailedOriginal(t, data)
			switch {
			case tt.kept && (len(orig.GetPayload().GetValue()) == 0 || orig.GetAttributes()[envelope.AttrPII] != envelope.PIIApplied):
				t.Errorf("the transformed payload was not kept, or not marked: %v", orig)
			case !tt.kept && (len(orig.GetPayload().GetValue()) != 0 || !strings.Contains(fe.GetMessage(), "payload not kept")):
				t.Errorf("undecodable payload kept, or not said so: %q, %v", fe.GetMessage(), orig)
			}
			if orig.GetEventId() != tt.ev.GetEventId() || orig.GetPayload().GetTypeUrl() != tt.ev.GetPayload().GetTypeUrl() {
				t.Errorf("original %v lost the event's id or type", orig)
			}
		})
	}

	// The HTTP edge: a JSON event that fails validation, and one that does
	// not decode (its JSON is never kept).
	for id, payload := range map[string]string{
		"pii-http-val": `"birthYear": 1800`,
		"pii-http-bad": `"birthYear": "not a year"`,
	} {
		body := `{"events":[{"eventId":"` + id + `","payload":{"@type":"type.googleapis.com/` + subject +
			`","memberId":"m-1","email":"ada@example.com","phone":"+31612345678","fullName":"Ada Lovelace",` +
			`"address":{"line1":"Damrak 1","city":"Amsterdam"},"registeredAt":"2026-11-22T10:00:00Z",` + payload + `}}]}`
		if code, answer := post(t, st, "hem_test_key", body); code != http.StatusOK || !strings.Contains(answer, "REJECTED") {
			t.Fatalf("%s: %d %s", id, code, answer)
		}
		data := failedData(t, st, id)
		for _, p := range personal {
			if bytes.Contains(data, []byte(p)) {
				t.Errorf("%s: %q in clear in the FailedEvent", id, p)
			}
		}
	}

	// Replay: the data engineer fixes the birth year in the stored original
	// and sends it back; it is accepted, and its e-mail is hashed once, as
	// for an event that was right the first time.
	_, orig := decodeFailedOriginal(t, failedData(t, st, "pii-val"))
	var fixed membersv1.MemberRegistered
	if err := proto.Unmarshal(orig.GetPayload().GetValue(), &fixed); err != nil {
		t.Fatal(err)
	}
	fixed.BirthYear = wrapperspb.Int32(1990)
	if orig.Payload.Value, err = proto.Marshal(&fixed); err != nil {
		t.Fatal(err)
	}
	right := event(t, "pii-right", memberRegistered())
	for _, r := range mustCollect(t, c, orig, right) {
		if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("replay of the fixed event: %v", r)
		}
	}
	var replayed, direct membersv1.MemberRegistered
	for _, m := range st.Published(envelope.EventsTopic) {
		switch m.Attributes[envelope.AttrEventID] {
		case "pii-val":
			_ = proto.Unmarshal(m.Data, &replayed)
			if _, ok := m.Attributes[envelope.AttrPII]; ok {
				t.Errorf("the replay marker reached hem-events: %v", m.Attributes)
			}
		case "pii-right":
			_ = proto.Unmarshal(m.Data, &direct)
		}
	}
	if replayed.GetEmail() == "" || replayed.GetEmail() != direct.GetEmail() || replayed.GetPhone() != direct.GetPhone() ||
		replayed.GetFullName() != direct.GetFullName() || replayed.GetBirthYear().GetValue() != 1990 {
		t.Errorf("replayed %v, sent right %v: hashed twice, or lost", &replayed, &direct)
	}
	// The marker does not let clear values through: they are hashed.
	sneaky := event(t, "pii-sneaky", memberRegistered())
	sneaky.Attributes = map[string]string{envelope.AttrPII: envelope.PIIApplied}
	if r := mustCollect(t, c, sneaky)[0]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
		t.Fatalf("marked event: %v", r)
	}
	for _, m := range st.Published(envelope.EventsTopic) {
		if m.Attributes[envelope.AttrEventID] == "pii-sneaky" {
			for _, p := range personal {
				if bytes.Contains(m.Data, []byte(p)) {
					t.Errorf("%q in clear on hem-events under the replay marker", p)
				}
			}
		}
	}
}

// failedData is the hem-failed message data of event id.
func failedData(t *testing.T, st *collectortest.Stack, id string) []byte {
	t.Helper()
	for _, m := range st.Published(envelope.FailedTopic) {
		if m.Attributes[envelope.AttrEventID] == id {
			return m.Data
		}
	}
	t.Fatalf("no failed event %s on %s", id, envelope.FailedTopic)
	return nil
}

func decodeFailedOriginal(t *testing.T, data []byte) (*eventv1.FailedEvent, *eventv1.Event) {
	t.Helper()
	fe, err := envelope.DecodeFailed(data)
	if err != nil {
		t.Fatal(err)
	}
	var orig eventv1.Event
	if err := proto.Unmarshal(fe.GetOriginal(), &orig); err != nil {
		t.Fatal(err)
	}
	return fe, &orig
}

func mustSchemaID(t *testing.T, st *collectortest.Stack, subject string) int64 {
	t.Helper()
	s, err := st.Schemas.Latest(t.Context(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// An event rejected for its size whose FailedEvent would not fit in a
// Pub/Sub publish (10 MB) is REJECTED and recorded without its payload,
// saying so, instead of being answered RETRY and resent for ever.
func TestFailedEventCutToThePublishLimit(t *testing.T) {
	st := start(t)
	c := dial(t, st.Addr)
	payload := make([]byte, 10_400_000) // under the 10 MiB batch limit, over 10 MB
	res := mustCollect(t, c, rawEvent("huge", "shop.orders.v1.OrderPlaced", payload))
	if got := res[0].GetStatus(); got != collectorv1.EventStatus_EVENT_STATUS_REJECTED {
		t.Fatalf("status %v (%s), want REJECTED", got, res[0].GetMessage())
	}
	if got := res[0].GetReason(); got != eventv1.Reason_REASON_TOO_LARGE {
		t.Errorf("reason %v, want TOO_LARGE", got)
	}
	fe, orig := decodeFailedOriginal(t, failedData(t, st, "huge"))
	if !strings.Contains(fe.GetMessage(), "original payload of 10400000 bytes not kept") {
		t.Errorf("message %q does not say the payload was not kept", fe.GetMessage())
	}
	if n := len(orig.GetPayload().GetValue()); n != 0 {
		t.Errorf("original keeps %d payload bytes", n)
	}
	if got := orig.GetPayload().GetTypeUrl(); got != "type.googleapis.com/shop.orders.v1.OrderPlaced" {
		t.Errorf("original type URL %q", got)
	}
}

// TestDecodeErrorsQuoteNoValue: a MemberRegistered whose JSON does not
// decode because of a personal value (a phone number sent as a number, an
// e-mail address where a timestamp goes) is rejected
// with a message that names the field and what is wrong, and where, but
// not the value: the FailedEvent, which is stored, and the collector's log
// hold no trace of it. Decoders quote the token they stumbled on. (A body
// that is not JSON at all is refused whole, with a 400 and no FailedEvent.)
func TestDecodeErrorsQuoteNoValue(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	st := start(t, collector.WithLogger(slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	const subject = "shop.members.v1.MemberRegistered"
	tests := []struct {
		name, fields, value string
		says                []string // in the message
	}{
		{"phone as a number", `"phone": 31612345678`, "31612345678", []string{"line 1", "invalid value for string field phone"}},
		{"e-mail as a timestamp", `"registeredAt": "ada@example.com"`, "ada@example.com", []string{"line 1", "invalid google.protobuf.Timestamp value"}},
		{"e-mail in a list", `"email": ["ada@example.com"]`, "ada@example.com", []string{"line 1", "invalid value for string field email"}},
		{"e-mail as a tier", `"tier": "ada@example.com"`, "ada@example.com", []string{"line 1", "invalid value for enum field tier"}},
		{"phone as a year", `"birthYear": "+31612345678"`, "31612345678", []string{"line 1", "invalid value for"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "pii-json-" + strconv.Itoa(i)
			body := `{"events":[{"eventId":"` + id + `","payload":{"@type":"type.googleapis.com/` + subject +
				`","memberId":"m-1",` + tt.fields + `}}]}`
			code, answer := post(t, st, collectortest.APIKey, body)
			if code != http.StatusOK || !strings.Contains(answer, "REJECTED") {
				t.Fatalf("%d %s", code, answer)
			}
			fe, _ := decodeFailedOriginal(t, failedData(t, st, id))
			if fe.GetReason() != eventv1.Reason_REASON_DECODE_FAILED {
				t.Errorf("reason %v, want DECODE_FAILED", fe.GetReason())
			}
			if strings.Contains(fe.GetMessage(), tt.value) {
				t.Errorf("FailedEvent message %q quotes the value %q", fe.GetMessage(), tt.value)
			}
			for _, s := range tt.says {
				if !strings.Contains(fe.GetMessage(), s) {
					t.Errorf("FailedEvent message %q does not say %q", fe.GetMessage(), s)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(logs.String(), tt.value) {
				t.Errorf("the collector's log holds %q:\n%s", tt.value, logs.String())
			}
		})
	}
}

// lockedWriter serializes writes to a buffer read by the test.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
