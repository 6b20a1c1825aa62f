package archive

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
)

// FuzzDecodeObject: whatever bytes an archive object holds (a torn upload,
// a bucket anyone can write to), reading it never panics, and what it reads
// is events whose payloads decode with the schema the object carries. The
// object lies in a larger buffer, so a read past its end changes the
// outcome.
func FuzzDecodeObject(f *testing.F) {
	s, obj := fuzzSeed(f)
	f.Add(obj)
	f.Add(obj[:len(obj)/2])
	f.Add(obj[len(obj)/2:])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := append(append(make([]byte, 0, len(in)+8), in...), 'P', 'A', 'R', '1', 0xff, 0xff, 0xff, 0x7f)
		// The seed's schema is known, as after an object of the same hour:
		// rebuilding it from the metadata for every input (descriptor.proto
		// and all) cost more than reading the object. Other ids still go
		// through the metadata.
		recs, err := decodeObject(buf[:len(in):len(in)], map[int64]*contract.Schema{s.ID: s})
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.Schema == nil || r.Message == nil {
				t.Fatalf("event %q read without its schema or message", r.EventID)
			}
		}
	})
}

// fuzzSeed is an archive object of three events of one schema, for the
// fuzz targets' seeds, and that schema.
func fuzzSeed(f *testing.F) (*contract.Schema, []byte) {
	f.Helper()
	src, err := contract.CompileSources(f.Context(), map[string]string{"fz/v1/e.proto": `syntax = "proto3";
package fz.v1;
import "hem/options/v1/options.proto";
message E {
  option (hem.options.v1.event) = {};
  string id = 1;
  repeated int64 n = 2;
}
`})
	if err != nil {
		f.Fatal(err)
	}
	s, err := src.Schema("fz.v1.E")
	if err != nil {
		f.Fatal(err)
	}
	s = s.WithIdentity(3, 1, contract.Usable, time.Time{})
	at := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	var events []*sink.Event
	for i := range 3 {
		m := dynamicpb.NewMessage(s.Descriptor())
		m.Set(s.Descriptor().Fields().ByName("id"), protoreflect.ValueOfString(fmt.Sprintf("id-%d", i)))
		data, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		events = append(events, &sink.Event{ID: fmt.Sprintf("e-%d", i), Schema: s, Payload: data, Message: m, EventTime: at,
			ReceivedAt: at, PublishedAt: at, Producer: "p", Attributes: map[string]string{"k": "v"}})
	}
	obj, err := Encode(events)
	if err != nil {
		f.Fatal(err)
	}
	return s, obj
}
