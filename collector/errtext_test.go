package collector

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	membersv1 "github.com/hemlabs/hem/gen/shop/members/v1"
)

// TestDecodeErrorTexts runs the decoders on JSON whose errors quote a
// value, and checks the worded error keeps what protojson or encoding/json
// says is wrong but not the value. A protobuf release that rewords an
// error falls back to the fixed text, and fails here.
func TestDecodeErrorTexts(t *testing.T) {
	t.Parallel()
	_ = membersv1.Tier_TIER_GOLD // registers the payload type for protojson
	const head = `{"payload":{"@type":"type.googleapis.com/shop.members.v1.MemberRegistered",`
	protojsonTests := []struct {
		fields, value, says string
	}{
		{`"phone": 31612345678}}`, "31612345678", "at line 1, column 85: invalid value for string field phone"},
		{`"email": ["ada@example.com"]}}`, "ada@example.com", "invalid value for string field email"},
		{`"registeredAt": "ada@example.com"}}`, "ada@example.com", "invalid google.protobuf.Timestamp value"},
		{`"tier": "ada@example.com"}}`, "ada@example.com", "invalid value for enum field tier"},
		{`"birthYear": "+31612345678"}}`, "31612345678", "invalid value for int32 field value"},
		{`"email": ada@example.com}}`, "ada@example.com", "column 85: invalid value"},
		{`"email": "ada@example.com" "x"}}`, "ada@example.com", "unexpected token"},
		{`"email": "ada\q@example.com"}}`, "ada", "invalid escape code in string"},
		{`"emial": "ada@example.com"}}`, "ada@example.com", `unknown field "emial"`},
		{`"ada@example.com": 1}}`, "ada@example.com", "unknown field"},
		{`"fullName": "Ada", "fullName": "Ada"}}`, "Ada\"", `duplicate field "fullName"`},
	}
	for _, tt := range protojsonTests {
		var e eventv1.Event
		err := protojson.Unmarshal([]byte(head+tt.fields), &e)
		if err == nil {
			t.Fatalf("%s: decoded", tt.fields)
		}
		got := protojsonErrorText(err)
		if strings.Contains(got, tt.value) || !strings.Contains(got, tt.says) {
			t.Errorf("%s: %q (protojson: %v), want %q without %q", tt.fields, got, err, tt.says, tt.value)
		}
	}
	jsonTests := []struct {
		json, value, says string
	}{
		{`{"eventId": 31612345678}`, "31612345678", "eventId: a JSON number where string is expected"},
		{`{"eventId": ada@example.com}`, "ada", "not valid JSON at byte 13"},
	}
	for _, tt := range jsonTests {
		var v struct {
			EventID string `json:"eventId"`
		}
		err := json.Unmarshal([]byte(tt.json), &v)
		if err == nil {
			t.Fatalf("%s: decoded", tt.json)
		}
		got := jsonErrorText(err)
		if strings.Contains(got, tt.value) || !strings.Contains(got, tt.says) {
			t.Errorf("%s: %q (encoding/json: %v), want %q without %q", tt.json, got, err, tt.says, tt.value)
		}
	}
}
