package codec

import (
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
)

// fastMessage decodes data through the fast path; ok as transcodeJSON's.
func fastMessage(t testing.TB, data []byte, md protoreflect.MessageDescriptor) (*dynamicpb.Message, bool) {
	t.Helper()
	out, ok := TranscodeJSON(nil, data, CompileJSON(md, false), nil)
	if !ok {
		return nil, false
	}
	m := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(out, m); err != nil {
		t.Fatalf("fast path wrote bytes that do not decode: %v\n%s", err, data)
	}
	return m, true
}

// TestJSONFastPathMatchesProtojson: every message protojson writes, in
// either naming, takes the fast path and decodes to what protojson decodes.
func TestJSONFastPathMatchesProtojson(t *testing.T) {
	t.Parallel()
	s := compileAll(t)
	md := s.Descriptor()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 1000 {
		m := dynamicpb.NewMessage(md)
		fill(r, m, 0)
		for _, opts := range []protojson.MarshalOptions{{}, {UseProtoNames: true, Multiline: true}} {
			data, err := opts.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := fastMessage(t, data, md)
			if !ok {
				t.Fatalf("case %d: the fast path gave up on protojson's own output:\n%s", i, data)
			}
			if !proto.Equal(got, m) {
				t.Fatalf("case %d: fast path decoded\n%v\nwant\n%v\nfrom %s", i, got, m, data)
			}
		}
	}
}

// TestJSONFastPathGivesUp: what the fast path does not handle, or protojson
// refuses, is left to protojson; what it handles decodes to these values.
func TestJSONFastPathGivesUp(t *testing.T) {
	t.Parallel()
	md := compileAll(t).Descriptor()
	for _, tc := range []struct {
		json string
		ok   bool
		want string // the decoded message in protojson, when ok
	}{
		{`{}`, true, `{}`},
		{` { "i32" : -5 , "s" : "a\"b\u00e9\ud83d\ude00\n\\\/" } `, true, `{"i32":-5,"s":"a\"bé😀\n\\/"}`},
		{`{"i64":"-9223372036854775808","u64":"18446744073709551615","f64":"1"}`, true, `{"i64":"-9223372036854775808","u64":"18446744073709551615","f64":"1"}`},
		{`{"c":2,"rc":["COLOR_RED",7]}`, true, `{"c":"COLOR_BLUE","rc":["COLOR_RED",7]}`},
		{`{"by":"AQID","w":"x","m3":{"true":"5"},"m4":{"-3":7}}`, true, `{"by":"AQID","w":"x","m3":{"true":"5"},"m4":{"-3":7}}`},
		{`{"db":1.5e300,"fl":-0.25}`, true, `{"db":1.5e300,"fl":-0.25}`},
		{`{"i32":null}`, false, ""},
		{`{"db":"NaN"}`, false, ""},
		{`{"i32":1,"i32":2}`, false, ""},
		{`{"i32":1,"i_32":2}`, false, ""},
		{`{"nope":1}`, false, ""},
		{`{"os":"a","oi":1}`, false, ""},
		{`{"i32":1.0}`, false, ""},
		{`{"i32":2147483648}`, false, ""},
		{`{"u32":-1}`, false, ""},
		{`{"i32":01}`, false, ""},
		{`{"m1":{"0":"a","-0":"b"}}`, false, ""},
		{`{"m3":{"yes":"1"}}`, false, ""},
		{`{"s":"\ud83d"}`, false, ""},
		{`{"s":"\x"}`, false, ""},
		{"{\"s\":\"\xff\"}", false, ""},
		{`{"c":"COLOR_GREEN"}`, false, ""},
		{`{"by":"AQI"}`, false, ""},
		{`{"fl":1e39}`, false, ""},
		{`{"rin":[{"next":{"next":{}}}],}`, false, ""},
		{`{"i32":1}x`, false, ""},
		{`[]`, false, ""},
	} {
		checkFastPath(t, md, tc.json, tc.ok, tc.want)
	}
}

// checkFastPath checks that the fast path takes (ok) or leaves input, and
// that what it takes decodes as protojson decodes want.
func checkFastPath(t *testing.T, md protoreflect.MessageDescriptor, input string, ok bool, want string) {
	t.Helper()
	got, took := fastMessage(t, []byte(input), md)
	if took != ok {
		t.Errorf("%s: fast path ok = %v, want %v", input, took, ok)
		return
	}
	if !took {
		return
	}
	wantMsg := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(want), wantMsg); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, wantMsg) {
		t.Errorf("%s: decoded %v, want %v", input, got, wantMsg)
	}
}

// TestJSONFastPathWellKnownTypes: Timestamp and Duration forms, in range
// or left to protojson.
func TestJSONFastPathWellKnownTypes(t *testing.T) {
	t.Parallel()
	src, err := contract.CompileSources(t.Context(), map[string]string{"wkt/v1/wkt.proto": `syntax = "proto3";
package wkt.v1;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/any.proto";
import "hem/options/v1/options.proto";
message W {
  option (hem.options.v1.event) = {}; google.protobuf.Timestamp ts = 1; google.protobuf.Duration d = 2; google.protobuf.Struct st = 3; google.protobuf.Any a = 4; }
`})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := src.Schema("wkt.v1.W")
	if err != nil {
		t.Fatal(err)
	}
	md := sc.Descriptor()
	for _, tc := range []struct {
		json string
		ok   bool
	}{
		{`{"ts":"2026-12-01T15:04:05Z"}`, true},
		{`{"ts":"2026-12-01T15:04:05.123456789Z"}`, true},
		{`{"ts":"0001-01-01T00:00:00Z","d":"-315576000000s"}`, true},
		{`{"d":"1.5s"}`, true},
		{`{"d":"-0.000000001s"}`, true},
		{`{"ts":"2026-12-01T15:04:05+01:00"}`, false}, // protojson takes offsets; the fast path does not
		{`{"ts":"2026-02-30T00:00:00Z"}`, false},
		{`{"ts":"0000-01-01T00:00:00Z"}`, false},
		{`{"ts":"2026-12-01T15:04:05.1234567890Z"}`, false},
		{`{"d":"315576000001s"}`, false},
		{`{"d":"1.s"}`, false},
		{`{"d":"01s"}`, false},
		{`{"st":{}}`, false},
		{`{"a":{"@type":"type.googleapis.com/google.protobuf.Empty"}}`, false},
	} {
		checkFastPath(t, md, tc.json, tc.ok, tc.json)
	}
}

// FuzzJSONFastPath holds the fast path to protojson: whatever it accepts,
// protojson accepts too and decodes to the same message.
func FuzzJSONFastPath(f *testing.F) {
	md := compileAll(f).Descriptor()
	r := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		m := dynamicpb.NewMessage(md)
		fill(r, m, 0)
		data, _ := protojson.Marshal(m)
		f.Add(data)
	}
	for _, s := range []string{`{"s":"\u00e9\ud83d\ude00"}`, `{"m1":{"1":"a"}}`, `{"i64":"-0"}`, `{"fl":3.4028236e38}`, `{"by":"AQ=="}`, `{"c":-1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = inLargerBuffer(data, jsonTrailer) // as inside a request body
		got, ok := fastMessage(t, data, md)
		if !ok {
			return
		}
		want := dynamicpb.NewMessage(md)
		if err := protojson.Unmarshal(data, want); err != nil {
			t.Fatalf("fast path accepted what protojson refuses (%v):\n%q", err, data)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("fast path decoded\n%v\nprotojson\n%v\nfrom %q", got, want, data)
		}
	})
}

// jsonTrailer is JSON that would continue an object, put after fuzz
// inputs.
const jsonTrailer = `,"x":{"y":[1,"2"]}}]}`

// inLargerBuffer returns input as buf[:len(input)] of a buffer that
// continues with trailer.
func inLargerBuffer(input []byte, trailer string) []byte {
	buf := append(append(make([]byte, 0, len(input)+len(trailer)), input...), trailer...)
	return buf[:len(input)]
}
