package wire_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/sink/sinktest"
	"github.com/hemlabs/hem/sink/sinktest/sample"
	"github.com/hemlabs/hem/wire"
)

// closed is a proto2 message with what proto3 contracts lack: closed enums
// (packed and not), groups, and strings that need not be UTF-8.
const closed = `syntax = "proto2";
package fz.v1;
enum Color { RED = 1; GREEN = 2; }
message Sub { optional int32 n = 1; optional string s = 2; }
message M {
  optional Color color = 1;
  repeated Color colors = 2 [packed = true];
  repeated Color loose = 3;
  optional string s = 4;
  repeated sint64 nums = 5 [packed = true];
  repeated fixed32 fx = 6;
  optional group G = 7 { optional int32 a = 8; }
  map<string, Sub> subs = 9;
  optional double d = 10;
  optional bytes b = 11;
}
`

// FuzzKnown holds wire.Known, the check in front of hyperpb, to the
// reference decoder: a payload it clears decodes with proto.Unmarshal and
// leaves no unknown field anywhere. The payload lies in a larger buffer, so
// a read past its end changes the outcome.
func FuzzKnown(f *testing.F) {
	schemas := sinktest.Schemas(f)
	subjects := slices.Sorted(maps.Keys(schemas))
	mds := []protoreflect.MessageDescriptor{
		(&eventv1.Event{}).ProtoReflect().Descriptor(),
		(&eventv1.FailedEvent{}).ProtoReflect().Descriptor(),
	}
	for _, s := range subjects {
		mds = append(mds, schemas[s].Descriptor())
	}
	src, err := contract.CompileSources(context.Background(), map[string]string{"fz/v1/m.proto": closed})
	if err != nil {
		f.Fatal(err)
	}
	m, _ := src.Message("fz.v1.M")
	mds = append(mds, m)
	for i, s := range subjects {
		g, err := sample.NewGenerator(uint64(i), []string{s}, 0)
		if err != nil {
			continue // not every sample has a generator
		}
		data, err := proto.Marshal(g.Next().Message)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(i+2))
		f.Add(data[:len(data)/2], uint8(i+2))
	}
	f.Add([]byte("SSSSSSSS"), uint8(0))
	f.Add([]byte("R\x80\x80\x80\x80\x01SS"), uint8(0))
	f.Add([]byte{0x08, 0x01, 0x12, 0x02, 0x01, 0x02, 0x18, 0x02, 0x22, 0x01, 0xff, 0x3b, 0x40, 0x01, 0x3c}, uint8(len(mds)-1))
	f.Fuzz(func(t *testing.T, in []byte, which uint8) {
		md := mds[int(which)%len(mds)]
		buf := append(append(make([]byte, 0, len(in)+6), in...), 0x0b, 0x53, 0x0a, 0xff, 0x80, 0x01)
		if !wire.Known(buf[:len(in)], md) {
			return
		}
		msg := dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(in, msg); err != nil {
			t.Fatalf("Known cleared a %s that does not decode: %v", md.FullName(), err)
		}
		if path, ok := unknownIn(msg, string(md.FullName())); ok {
			t.Fatalf("Known cleared a %s with unknown fields at %s", md.FullName(), path)
		}
	})
}

// unknownIn finds a message holding unknown fields in m, m included.
func unknownIn(m protoreflect.Message, path string) (string, bool) {
	if len(m.GetUnknown()) > 0 {
		return path, true
	}
	var found string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
				found, _ = unknownIn(v.Message(), p)
				return found == ""
			})
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				if found, _ = unknownIn(v.List().Get(i).Message(), p); found != "" {
					break
				}
			}
		case !fd.IsMap() && !fd.IsList() && fd.Message() != nil:
			found, _ = unknownIn(v.Message(), p)
		}
		return found == ""
	})
	return found, found != ""
}
