package codec

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"buf.build/go/hyperpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
)

// readAll reads the test contract of every kind.
func readAll(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// compileAll compiles testdata/all.proto: a field of every kind, repeated,
// map, oneof, optional, recursive and wrapper shapes.
func compileAll(tb testing.TB) *contract.Schema {
	tb.Helper()
	src, err := contract.CompileSources(tb.Context(), map[string]string{"codec/v1/all.proto": readAll(tb, "testdata/all.proto")})
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
	parser := hyperpb.CompileMessageDescriptor(s.Descriptor())
	c, _ := Compile(s.Descriptor())
	r := rand.New(rand.NewPCG(1, 2))
	h := NewHasher([]byte("salt-salt-salt-salt"))
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
			msg := shared.NewMessage(parser)
			if err := msg.Unmarshal(in); err != nil {
				t.Fatalf("case %d: decode: %v", i, err)
			}
			enc := Encoder{Hasher: h}
			got := enc.Encode(nil, msg, c)
			if !bytes.Equal(got, want) {
				t.Fatalf("case %d: encoder differs from deterministic marshal\n got %x\nwant %x", i, got, want)
			}
			if c.Canonical(in) {
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
