package archive

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/wire"
)

// allKinds is a contract with every shape the walker reads: each scalar
// kind, presence, a oneof with a member that has no column, maps of
// scalars, enums and records, packed lists, wrappers, the well-known
// messages and nested records; v1 lacks some of v2's fields.
var allKinds = sync.OnceValues(func() ([2]*contract.Schema, error) {
	const date = `syntax = "proto3";
package google.type;
message Date { int32 year = 1; int32 month = 2; int32 day = 3; }`
	const head = `syntax = "proto3";
package fz.v1;
import "hem/options/v1/options.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/wrappers.proto";
import "google/type/date.proto";
enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; KIND_B = 2; }
message Nothing {}
message Leaf { string s = 1; repeated int32 v = 2; google.protobuf.Int32Value w = 3; }
message Inner {
  string s = 1;
  optional int64 n = 2;
  repeated Leaf kids = 3;
  google.protobuf.Timestamp at = 4;
  map<string, string> tags = 5;
}
`
	const v2 = `
message E {
  option (hem.options.v1.event) = {};
  bool b = 1; int32 i32 = 2; sint32 s32 = 3; sfixed32 sf32 = 4; uint32 u32 = 5; fixed32 f32 = 6;
  int64 i64 = 7; sint64 s64 = 8; sfixed64 sf64 = 9; uint64 u64 = 10; fixed64 f64 = 11;
  float f = 12; double dbl = 13; string s = 14; bytes raw = 15; Kind kind = 16;
  optional string opt = 17;
  oneof choice { Inner in = 18; string word = 19; Nothing none = 20; }
  repeated int32 ints = 21; repeated Kind kinds = 22; repeated string strs = 23; repeated double dbls = 24;
  repeated Inner inners = 25;
  map<string, Inner> by_name = 26; map<int32, string> by_num = 27; map<bool, Kind> by_flag = 28;
  map<sint64, google.protobuf.Int64Value> wrapped = 29;
  google.protobuf.Int32Value i32w = 30; google.protobuf.StringValue sw = 31; google.protobuf.UInt64Value u64w = 32;
  google.protobuf.Timestamp at = 33; google.protobuf.Duration took = 34; google.type.Date day = 35;
  google.protobuf.Struct extra = 36;
  Inner inner = 37;
  repeated uint64 bigs = 38;
  map<string, google.protobuf.Timestamp> times = 39;
}`
	const v1 = `
message E {
  option (hem.options.v1.event) = {};
  bool b = 1; int32 i32 = 2;
  string s = 14;
  oneof choice { Inner in = 18; string word = 19; }
  repeated Inner inners = 25;
  map<string, Inner> by_name = 26;
  Inner inner = 37;
}`
	var out [2]*contract.Schema
	for i, src := range []string{v1, v2} {
		c, err := contract.CompileSources(context.Background(), map[string]string{"google/type/date.proto": date, "fz/v1/e.proto": head + src})
		if err != nil {
			return out, err
		}
		s, err := c.Schema("fz.v1.E")
		if err != nil {
			return out, err
		}
		out[i] = s.WithIdentity(40+int64(i), i+1, contract.Usable, time.Time{})
	}
	return out, nil
})

var fuzzSeeds = []string{
	`{}`,
	`{"b":true,"i32":-5,"s32":-7,"sf32":-9,"u32":4294967295,"f32":7,"i64":"-9","s64":"-11","sf64":"-13","u64":"18446744073709551615",
	  "f64":"5","f":1.5,"dbl":-2.25,"s":"héllo","raw":"AQI=","kind":"KIND_B","opt":"","word":"w"}`,
	`{"in":{"s":"x","n":"0","kids":[{"s":"k1"},{"s":"k2","v":[1,2],"w":0}],"at":"2026-01-02T03:04:05.123456789Z","tags":{"b":"2","a":"1"}}}`,
	`{"ints":[1,-2,300],"kinds":["KIND_A",7,"KIND_UNSPECIFIED"],"strs":["a","","c"],"dbls":[0.5],"bigs":["1","18446744073709551615"],
	  "inners":[{},{"s":"y","tags":{"z":""}}]}`,
	`{"by_name":{"b":{"s":"B"},"a":{}},"by_num":{"-1":"m","3":"t"},"by_flag":{"true":"KIND_A","false":9},"wrapped":{"-4":"8","2":"0"},
	  "times":{"t":"1969-12-31T23:59:59.5Z"}}`,
	`{"i32w":-3,"sw":"","u64w":"12","at":"1900-01-01T00:00:00Z","took":"-1.000000500s","day":{"year":2024,"month":2,"day":29},
	  "extra":{"a":[1,"x",null,{"b":false}]},"inner":{"s":"i"},"none":{}}`,
}

// FuzzWalker compares the walker's values with the decoded path's (the
// payload decoded by proto.Unmarshal, then the contract's conversions)
// for payloads wire.Known clears, inside a larger buffer with trailing
// bytes the walker must not read.
func FuzzWalker(f *testing.F) {
	schemas, err := allKinds()
	if err != nil {
		f.Fatal(err)
	}
	v1, v2 := schemas[0], schemas[1]
	l, err := layoutOf(v2)
	if err != nil {
		f.Fatal(err)
	}
	for _, js := range fuzzSeeds {
		m := v2.NewMessage()
		if err := protojson.Unmarshal([]byte(js), m); err != nil {
			f.Fatalf("%s: %v", js, err)
		}
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		if got, err := walked(l, b, nil); err != nil || got != decodedValues(l, b, nil) {
			f.Fatalf("seed %s: the walker gives %v\n%s\nthe decoded path\n%s", js, err, got, decodedValues(l, b, nil))
		}
		f.Add(b)
		// The same fields twice and in reverse: the last occurrence wins.
		f.Add(append(append([]byte{}, b...), b...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !wire.Known(data, v2.Descriptor()) {
			return
		}
		buf := append(append(make([]byte, 0, len(data)+16), data...), "\x0a\x05trail\xff\xff\xff\xff\xff\x01\x02\x03"...)
		payload := buf[:len(data)]
		for _, known := range [][]bool{nil, l.knownOf(v1)} {
			got, err := walked(l, payload, known)
			if err != nil {
				continue // left to the decoded path
			}
			if want := decodedValues(l, payload, known); got != want {
				t.Fatalf("payload %x (known %v):\nwalker  %s\ndecoded %s", data, known != nil, got, want)
			}
		}
	})
}
