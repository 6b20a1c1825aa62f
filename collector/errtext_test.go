package collector

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/collector/codec"
	"github.com/hemlabs/hem/contract"
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

// quoting is a contract whose own rules quote the value they check (a CEL
// expression may return any message): on PII fields, top-level and nested,
// and on a message that checks one.
const quoting = `syntax = "proto3";
package quoting.v1;
import "buf/validate/validate.proto";
import "hem/options/v1/options.proto";
message Contact {
  string phone = 1 [(hem.options.v1.field).pii = PII_HANDLING_DROP];
}
message Signup {
  option (hem.options.v1.event) = {};
  option (buf.validate.message).cel = {id: "signup.email_domain", expression: "this.email.endsWith('@shop.example') ? '' : this.email + ' is not a shop address'"};
  string email = 1 [
    (hem.options.v1.field).pii = PII_HANDLING_HASH,
    (buf.validate.field).cel = {id: "email.long", expression: "size(this) > 40 ? '' : 'too short: ' + this"}
  ];
  Contact contact = 2 [(buf.validate.field).cel = {id: "contact.phone", expression: "this.phone.startsWith('+') ? '' : 'no + in ' + this.phone"}];
  string note = 3 [(buf.validate.field).cel = {id: "note.empty", expression: "this == '' ? '' : 'note ' + this + ' is not empty'"}];
}
`

// TestValidationMessagesWithholdPII: a rule's message that quotes a PII
// value (the contract's own CEL message) does not carry it into the
// rejection's message and violations, which the FailedEvent stores; values
// of other fields stay.
func TestValidationMessagesWithholdPII(t *testing.T) {
	t.Parallel()
	src, err := contract.CompileSources(t.Context(), map[string]string{"quoting/v1/quoting.proto": quoting})
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema("quoting.v1.Signup")
	if err != nil {
		t.Fatal(err)
	}
	p := newPlan(s.WithIdentity(1, 1, contract.Usable, time.Time{}))
	if p.err != nil {
		t.Fatal(p.err)
	}
	md := s.Descriptor()
	m := dynamicpb.NewMessage(md)
	m.Set(md.Fields().ByName("email"), protoreflect.ValueOfString("ada@example.com"))
	contact := m.Mutable(md.Fields().ByName("contact")).Message()
	contact.Set(contact.Descriptor().Fields().ByName("phone"), protoreflect.ValueOfString("31612345678"))
	m.Set(md.Fields().ByName("note"), protoreflect.ValueOfString("call me"))
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	_, _, rej := p.process(payload, codec.NewHasher([]byte("test-salt-0123456789")), nil, false)
	if rej == nil || len(rej.violations) != 4 {
		t.Fatalf("rejection %+v, want 4 violations", rej)
	}
	texts := []string{rej.message}
	for _, v := range rej.violations {
		texts = append(texts, v.GetFieldPath(), v.GetMessage())
	}
	all := strings.Join(texts, "\n")
	for _, personal := range []string{"ada@example.com", "31612345678"} {
		if strings.Contains(all, personal) {
			t.Errorf("the rejection quotes %q:\n%s", personal, all)
		}
	}
	for _, kept := range []string{"note call me is not empty", "email.long", "signup.email_domain", "contact.phone", "too short"} {
		if !strings.Contains(all, kept) {
			t.Errorf("the rejection lost %q:\n%s", kept, all)
		}
	}
}

// TestPrintable holds printable's ASCII fast path to the definition by
// runes: every rune printable, and no space.
func TestPrintable(t *testing.T) {
	byRunes := func(s string) bool {
		if !utf8.ValidString(s) {
			return false
		}
		for _, r := range s {
			if !unicode.IsPrint(r) || r == ' ' {
				return false
			}
		}
		return true
	}
	cases := []string{"", "0195b3c2-7d1e-8a4f-9c3b-2e1f0a9b8c7d", "a b", "a\tb", "a\x7fb", "a\x00", "~!", "größe", "x\u00a0y", "x\u200by", "\xff", "é\xff", "id-\u2028"}
	for c := range 256 {
		cases = append(cases, "id"+string(rune(c)), "id"+string([]byte{byte(c)}))
	}
	for _, s := range cases {
		if got, want := printable(s), byRunes(s); got != want {
			t.Errorf("printable(%q) = %v, want %v", s, got, want)
		}
	}
}
