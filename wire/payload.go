// Package wire is the protobuf wire format as hem's hand-written decoders
// meet it: checks that make producer bytes safe before a decoder that can
// over-read sees them, with one depth limit.
package wire

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxDepth is the one nesting limit of hem's decoders: how deep Known
// follows nested messages (deeper payloads are not cleared), and how deep
// the collector's decoders (hyperpb, protobuf-go) and codecs (package
// collector/codec) go before they refuse or give up.
const MaxDepth = 100

// Known reports whether every field encoded in payload, a message of md,
// is one md declares, with a wire type it is decoded from and a well-formed
// value (valid UTF-8 strings, whole packed elements, a known value of a
// closed enum), recursively. Then decoding payload into md succeeds and
// leaves no unknown fields. It allocates nothing, and false only means
// "decode it with protobuf-go, which decides exactly".
//
// It is the gate in front of hyperpb: hyperpb v0.1.3 reads past the end of
// its input while it skips an unknown group that is not terminated (see the
// collector's package doc), so producer bytes reach hyperpb only when Known
// cleared them: no unknown field, and no group at all, is left for it to
// skip.
func Known(payload []byte, md protoreflect.MessageDescriptor) bool {
	return known(payload, md, 0)
}

func known(b []byte, md protoreflect.MessageDescriptor, depth int) bool {
	if depth > MaxDepth {
		return false
	}
	fields := md.Fields()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		fd := byNumber(fields, num)
		if fd == nil {
			return false
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return false
		}
		value := b[:n]
		b = b[n:]
		switch kind := fd.Kind(); {
		case kind == protoreflect.MessageKind: // maps too: their entries are messages
			if typ != protowire.BytesType {
				return false
			}
			inner, _ := protowire.ConsumeBytes(value)
			if !known(inner, fd.Message(), depth+1) {
				return false
			}
		case typ == wireType(kind):
			if !scalarKnown(fd, value) {
				return false
			}
		case typ == protowire.BytesType && fd.IsList() && wireType(kind) != protowire.BytesType: // packed
			if !packedKnown(fd, value) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// scalarKnown reports whether one encoded scalar value of fd decodes into
// a known value: strings must be valid UTF-8 (proto3 requires it; a proto2
// string that is not valid UTF-8 is left to the exact path) and a closed
// enum's number must be one it declares (else it is an unknown field).
func scalarKnown(fd protoreflect.FieldDescriptor, value []byte) bool {
	switch fd.Kind() {
	case protoreflect.StringKind:
		s, n := protowire.ConsumeBytes(value)
		return n >= 0 && utf8.Valid(s)
	case protoreflect.EnumKind:
		if fd.Enum().IsClosed() {
			v, n := protowire.ConsumeVarint(value)
			return n >= 0 && fd.Enum().Values().ByNumber(protoreflect.EnumNumber(int32(v))) != nil
		}
	}
	return true
}

// byNumber is fields.ByNumber, first trying the field declared at
// position num-1, where fields numbered in order are: an index instead of
// a map lookup per field on the wire.
func byNumber(fields protoreflect.FieldDescriptors, num protowire.Number) protoreflect.FieldDescriptor {
	if i := int(num) - 1; i >= 0 && i < fields.Len() {
		if fd := fields.Get(i); fd.Number() == num {
			return fd
		}
	}
	return fields.ByNumber(num)
}

// packedKnown reports whether b is whole elements of a packed field.
func packedKnown(fd protoreflect.FieldDescriptor, b []byte) bool {
	b, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return false
	}
	switch wireType(fd.Kind()) {
	case protowire.Fixed32Type:
		return len(b)%4 == 0
	case protowire.Fixed64Type:
		return len(b)%8 == 0
	case protowire.VarintType:
		if fd.Kind() == protoreflect.EnumKind && fd.Enum().IsClosed() {
			return false // the exact path sorts known from unknown numbers
		}
		for len(b) > 0 {
			_, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
		}
		return true
	}
	return false
}

// wireType is the wire type a scalar kind is encoded with; groups get an
// impossible one, so Known never clears them.
func wireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return protowire.VarintType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind:
		return protowire.BytesType
	}
	return -1
}
