package collector

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"buf.build/go/hyperpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
)

// allKinds has a field of every kind, repeated, map, oneof, optional,
// recursive and wrapper shapes.
const allKinds = `syntax = "proto3";
package codec.v1;
import "google/protobuf/wrappers.proto";
import "hem/options/v1/options.proto";
enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; COLOR_BLUE = 2; }
message Inner { string s = 1; int64 n = 2; Inner next = 3; repeated Inner kids = 4; }
message All {
  option (hem.options.v1.event) = {};
  int32 i32 = 1; int64 i64 = 2; uint32 u32 = 3; uint64 u64 = 4;
  sint32 s32 = 5; sint64 s64 = 6; fixed32 f32 = 7; fixed64 f64 = 8;
  sfixed32 sf32 = 9; sfixed64 sf64 = 10; float fl = 11; double db = 12;
  bool b = 13; string s = 14; bytes by = 15; Color c = 16;
  repeated int32 ri32 = 17; repeated sint64 rs64 = 18; repeated double rdb = 19;
  repeated bool rb = 20; repeated Color rc = 21; repeated string rs = 22; repeated bytes rby = 23;
  repeated Inner rin = 24;
  map<int32, string> m1 = 25; map<string, Inner> m2 = 26; map<bool, int64> m3 = 27;
  map<sint64, fixed32> m4 = 28; map<uint64, bytes> m5 = 29; map<string, Color> m6 = 30;
  oneof pick { string os = 31; Inner oin = 32; int32 oi = 33; }
  optional int32 opt = 34; optional string opts = 35;
  Inner in = 36; google.protobuf.StringValue w = 37;
  oneof other { bool ob = 1000; fixed64 of = 2000; }
  repeated fixed32 rf32 = 4000;
}
`

func compileAll(tb testing.TB) *contract.Schema {
	tb.Helper()
	src, err := contract.CompileSources(tb.Context(), map[string]string{"codec/v1/all.proto": allKinds})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := src.Schema("codec.v1.All")
	if err != nil {
		tb.Fatal(err)
	}
	return s.WithIdentity(1, 1, contract.Usable, time.Time{})
}

// fill sets random values, zeros included, on a dynamic message.
func fill(r *rand.Rand, m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if r.IntN(3) == 0 {
			continue
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range r.IntN(4) {
				k := randScalar(r, fd.MapKey()).MapKey()
				if fd.MapValue().Message() != nil {
					v := mp.NewValue()
					if depth < 3 {
						fill(r, v.Message(), depth+1)
					}
					mp.Set(k, v)
				} else {
					mp.Set(k, randScalar(r, fd.MapValue()))
				}
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range r.IntN(4) {
				if fd.Message() != nil {
					v := l.NewElement()
					if depth < 3 {
						fill(r, v.Message(), depth+1)
					}
					l.Append(v)
				} else {
					l.Append(randScalar(r, fd))
				}
			}
		case fd.Message() != nil:
			if depth < 3 {
				v := m.NewField(fd)
				fill(r, v.Message(), depth+1)
				m.Set(fd, v)
			}
		default:
			m.Set(fd, randScalar(r, fd))
		}
	}
}

func randScalar(r *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	zero := r.IntN(4) == 0
	n := r.Int64()
	if r.IntN(2) == 0 {
		n = -n
	}
	if zero {
		n = 0
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(n%2 != 0)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(r.IntN(4) - 1))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(n)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	case protoreflect.FloatKind:
		if r.IntN(5) == 0 {
			return protoreflect.ValueOfFloat32(float32(math.Copysign(0, -1)))
		}
		return protoreflect.ValueOfFloat32(float32(n) / 7)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) / 3)
	case protoreflect.StringKind:
		if zero {
			return protoreflect.ValueOfString("")
		}
		return protoreflect.ValueOfString(string([]rune{'a' + rune(r.IntN(26)), 'é', rune('0' + r.IntN(10))}))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(bytes.Repeat([]byte{byte(n)}, r.IntN(3)))
	}
	panic("kind " + fd.Kind().String())
}

// TestEncoderMatchesDeterministicMarshal: without PII, the hot path's
// output is exactly protobuf-go's deterministic encoding of the payload,
// whether the input was canonical or not.
func TestEncoderMatchesDeterministicMarshal(t *testing.T) {
	t.Parallel()
	s := compileAll(t)
	p := newPlan(s)
	if p.err != nil {
		t.Fatal(p.err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	h := newHasher([]byte("salt-salt-salt-salt"))
	canonicalHits := 0
	for i := range 1000 {
		m := dynamicpb.NewMessage(s.Descriptor())
		fill(r, m, 0)
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		// Feed both the canonical bytes and a shuffled, non-deterministic
		// form.
		loose, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range [][]byte{want, loose} {
			shared := new(hyperpb.Shared)
			msg := shared.NewMessage(p.parser)
			if err := msg.Unmarshal(in); err != nil {
				t.Fatalf("case %d: decode: %v", i, err)
			}
			enc := encoder{h: h}
			got := enc.message(nil, msg, p.codec, nil)
			if !bytes.Equal(got, want) {
				t.Fatalf("case %d: encoder differs from deterministic marshal\n got %x\nwant %x", i, got, want)
			}
			if canonical(in, p.codec, 0) {
				canonicalHits++
				if !bytes.Equal(in, want) {
					t.Fatalf("case %d: canonical() accepted bytes the encoder would change\n in %x\nwant %x", i, in, want)
				}
			}
		}
	}
	if canonicalHits < 1000 {
		t.Errorf("canonical() recognised %d of 1000 deterministic encodings; the fast path is not taken", canonicalHits)
	}
}
