package mapping

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The payload is written straight from the mapped values, in field number
// order: the bytes proto.MarshalOptions{Deterministic: true} gives for the
// same message, without building one.

// appendMessage appends the fields of n's message.
func appendMessage(b []byte, n *node, vals []value) []byte {
	for _, ch := range n.children {
		if ch.leaf != nil {
			b = appendLeaf(b, ch.leaf, vals[ch.leaf.slot])
			continue
		}
		// A message some of whose fields are mapped is always present.
		b = protowire.AppendTag(b, ch.fd.Number(), protowire.BytesType)
		b = appendNested(b, func(b []byte) []byte { return appendMessage(b, ch, vals) })
	}
	return b
}

// appendNested appends a length-prefixed body, reserving one byte for the
// length and moving the body when the length needs more.
func appendNested(b []byte, body func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, 0)
	b = body(b)
	n := len(b) - start - 1
	if n < 0x80 {
		b[start] = byte(n)
		return b
	}
	size := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, size-1)...)
	copy(b[start+size:], b[start+1:start+1+n])
	protowire.AppendVarint(b[:start], uint64(n))
	return b
}

func appendLeaf(b []byte, l *leaf, v value) []byte {
	if !v.set {
		return b
	}
	fd, t := l.fd, l.tg
	num := fd.Number()
	if t.list {
		if len(v.list) == 0 {
			return b
		}
		if fd.IsPacked() {
			b = protowire.AppendTag(b, num, protowire.BytesType)
			return appendNested(b, func(b []byte) []byte {
				for _, e := range v.list {
					b = appendScalar(b, t, e)
				}
				return b
			})
		}
		for _, e := range v.list {
			b = appendSingle(b, num, t, e)
		}
		return b
	}
	if !fd.HasPresence() && isZero(t, v) {
		return b
	}
	return appendSingle(b, num, t, v)
}

// isZero reports a proto3 default value, which implicit presence omits.
func isZero(t target, v value) bool {
	switch t.kind {
	case protoreflect.StringKind, protoreflect.BytesKind:
		return v.s == ""
	case protoreflect.FloatKind:
		return math.Float32bits(float32(v.f)) == 0
	case protoreflect.DoubleKind:
		return math.Float64bits(v.f) == 0
	}
	return v.i == 0 && v.u == 0
}

func appendSingle(b []byte, num protoreflect.FieldNumber, t target, v value) []byte {
	switch {
	case t.timestamp:
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return appendNested(b, func(b []byte) []byte {
			if v.i != 0 {
				b = protowire.AppendTag(b, 1, protowire.VarintType)
				b = protowire.AppendVarint(b, uint64(v.i))
			}
			if v.u != 0 {
				b = protowire.AppendTag(b, 2, protowire.VarintType)
				b = protowire.AppendVarint(b, v.u)
			}
			return b
		})
	case t.wrapper != "":
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return appendNested(b, func(b []byte) []byte {
			if isZero(t, v) {
				return b
			}
			b = protowire.AppendTag(b, 1, wireType(t))
			return appendScalar(b, t, v)
		})
	}
	b = protowire.AppendTag(b, num, wireType(t))
	return appendScalar(b, t, v)
}

func wireType(t target) protowire.Type {
	switch t.kind {
	case protoreflect.StringKind, protoreflect.BytesKind:
		return protowire.BytesType
	case protoreflect.FloatKind, protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return protowire.Fixed32Type
	case protoreflect.DoubleKind, protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return protowire.Fixed64Type
	}
	return protowire.VarintType
}

func appendScalar(b []byte, t target, v value) []byte {
	switch t.kind {
	case protoreflect.StringKind, protoreflect.BytesKind:
		return protowire.AppendString(b, v.s)
	case protoreflect.FloatKind:
		return protowire.AppendFixed32(b, math.Float32bits(float32(v.f)))
	case protoreflect.DoubleKind:
		return protowire.AppendFixed64(b, math.Float64bits(v.f))
	case protoreflect.Fixed32Kind:
		return protowire.AppendFixed32(b, uint32(v.u))
	case protoreflect.Sfixed32Kind:
		return protowire.AppendFixed32(b, uint32(int32(v.i)))
	case protoreflect.Fixed64Kind:
		return protowire.AppendFixed64(b, v.u)
	case protoreflect.Sfixed64Kind:
		return protowire.AppendFixed64(b, uint64(v.i))
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return protowire.AppendVarint(b, protowire.EncodeZigZag(v.i))
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		return protowire.AppendVarint(b, v.u)
	case protoreflect.BoolKind:
		return protowire.AppendVarint(b, protowire.EncodeBool(v.i != 0))
	}
	// int32, int64, enum: negative values take ten bytes, as proto encodes them.
	return protowire.AppendVarint(b, uint64(v.i))
}
