package envelope_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/envelope"
)

// FuzzDecodeEnvelope: whatever attributes a Pub/Sub message carries,
// Decode never panics, and an envelope it reads encodes to attributes it
// reads back to the same envelope.
func FuzzDecodeEnvelope(f *testing.F) {
	at := time.Date(2026, 12, 1, 13, 0, 0, 123456789, time.UTC)
	good := (&envelope.Envelope{EventID: "e-1", Type: "shop.orders.v1.OrderPlaced", SchemaID: 7, EventTime: at, ReceivedAt: at,
		Producer: "p", EntityKey: "k", Attributes: map[string]string{"region": "eu"}}).Encode()
	f.Add(join(good))
	f.Add(join(map[string]string{envelope.AttrEventID: "e", envelope.AttrType: "t", envelope.AttrSchemaID: "-1", envelope.AttrEventTime: "2026-01-02T03:04:05+02:00"}))
	f.Add(join(map[string]string{envelope.AttrEventID: "e", envelope.AttrType: "t", envelope.AttrSchemaID: "1", envelope.AttrEventTime: "yesterday"}))
	f.Fuzz(func(t *testing.T, in string) {
		// key=value lines; the input lies in a larger string.
		attrs := map[string]string{}
		for line := range strings.SplitSeq((in + "\nhem-x=trailing")[:len(in)], "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				attrs[k] = v
			}
		}
		e, err := envelope.Decode(attrs)
		if err != nil {
			return
		}
		again, err := envelope.Decode(e.Encode())
		if err != nil {
			t.Fatalf("an envelope read from %v does not read back: %v", attrs, err)
		}
		if again.EventID != e.EventID || again.Type != e.Type || again.SchemaID != e.SchemaID || !again.EventTime.Equal(e.EventTime) ||
			!again.ReceivedAt.Equal(e.ReceivedAt) || again.Producer != e.Producer || again.EntityKey != e.EntityKey ||
			!maps.Equal(again.Attributes, e.Attributes) {
			t.Fatalf("read %+v, encoded and read back %+v", e, again)
		}
	})
}

func join(attrs map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		b.WriteString(k + "=" + attrs[k] + "\n")
	}
	return b.String()
}
