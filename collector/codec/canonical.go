package codec

import (
	"bytes"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/wire"
)

// Canonical reports whether b is byte for byte what an Encoder without PII
// handling writes for the message b decodes to; b must already have
// decoded successfully as c's type.
func (c *Codec) Canonical(b []byte) bool { return canonical(b, c, 0) }

// canonical reports whether b is byte for byte what the Encoder produces
// for the message b decodes to, assuming no PII handling applies. Producers
// using protobuf-go's generated code mostly send such bytes; the hot path
// then publishes a copy of them instead of re-encoding. Anything unusual
// (unknown fields, out-of-order or repeated singular fields, non-minimal
// varints, unpacked packable lists, unsorted map keys, groups, zero values
// written for implicit-presence fields) answers false, and the full Encoder
// runs. b must already have decoded successfully.
func canonical(b []byte, c *Codec, depth int) bool {
	if depth > wire.MaxDepth {
		return false
	}
	last := -1 // position in c.fields (wire order) of the previous field
	var oneofs uint64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || n != protowire.SizeTag(num) {
			return false
		}
		b = b[n:]
		i := c.position(num)
		if i < 0 || i < last {
			return false // unknown field, or out of order
		}
		repeat := i == last
		f := &c.fields[i]
		fd := f.fd
		list := fd.IsList()
		if repeat && !(list && !fd.IsPacked()) && f.mapKey == nil {
			return false
		}
		if !repeat && f.oneof > 0 {
			if f.oneof > 64 || oneofs&(1<<(f.oneof-1)) != 0 {
				return false
			}
			oneofs |= 1 << (f.oneof - 1)
		}
		last = i
		switch {
		case f.mapKey != nil:
			v, ok := consumeBytes(b, typ)
			if !ok || !canonicalMapEntry(v, f, &b, depth) {
				return false
			}
		case f.child != nil:
			if typ != protowire.BytesType || fd.Kind() == protoreflect.GroupKind {
				return false
			}
			v, ok := consumeBytes(b, typ)
			if !ok || !canonical(v, f.child, depth+1) {
				return false
			}
			b = b[lenPrefixed(v):]
		case list && fd.IsPacked():
			v, ok := consumeBytes(b, typ)
			if !ok || len(v) == 0 {
				return false
			}
			b = b[lenPrefixed(v):]
			for len(v) > 0 {
				k := consumeScalar(v, fd.Kind(), wireType(fd.Kind()), true)
				if k < 0 {
					return false
				}
				v = v[k:]
			}
		default:
			k := consumeScalar(b, fd.Kind(), typ, list || fd.HasPresence())
			if k < 0 {
				return false
			}
			b = b[k:]
		}
	}
	return true
}

// canonicalMapEntry checks one map entry (key 1, value 2, both written)
// and that its key sorts after the previous entry's.
func canonicalMapEntry(v []byte, f *fieldCodec, rest *[]byte, depth int) bool {
	entry := v
	num, typ, n := protowire.ConsumeTag(v)
	if n < 0 || num != 1 || n != 1 {
		return false
	}
	v = v[n:]
	k := consumeScalar(v, f.mapKey.Kind(), typ, true)
	if k < 0 {
		return false
	}
	key := v[:k]
	v = v[k:]
	num, typ, n = protowire.ConsumeTag(v)
	if n < 0 || num != 2 || n != 1 {
		return false
	}
	v = v[n:]
	if f.valMsg != nil {
		m, ok := consumeBytes(v, typ)
		if !ok || lenPrefixed(m) != len(v) || !canonical(m, f.valMsg, depth+1) {
			return false
		}
	} else if k := consumeScalar(v, f.mapVal.Kind(), typ, true); k < 0 || k != len(v) {
		return false
	}
	// The previous entry of this map, if it directly precedes, must have a
	// smaller key; the caller's rest still starts at this entry.
	b := *rest
	consumed := lenPrefixed(entry)
	*rest = b[consumed:]
	return keyAfterPrevious(f, key, b[consumed:])
}

// keyAfterPrevious compares keys of consecutive entries: it peeks at the
// next entry of the same map in next and checks it sorts after key.
func keyAfterPrevious(f *fieldCodec, key, next []byte) bool {
	num, typ, n := protowire.ConsumeTag(next)
	if n < 0 || num != f.num || typ != protowire.BytesType {
		return true // no next entry of this map
	}
	e, ok := consumeBytes(next[n:], typ)
	if !ok || len(e) < 1 || e[0] != 1<<3|byte(wireType(f.mapKey.Kind())) {
		return false
	}
	k := consumeScalar(e[1:], f.mapKey.Kind(), wireType(f.mapKey.Kind()), true)
	if k < 0 {
		return false
	}
	return compareWireKeys(f.mapKey.Kind(), key, e[1:1+k]) < 0
}

func compareWireKeys(kind protoreflect.Kind, a, b []byte) int {
	switch kind {
	case protoreflect.StringKind:
		x, _ := protowire.ConsumeBytes(a)
		y, _ := protowire.ConsumeBytes(b)
		return bytes.Compare(x, y)
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		x, y := fixedValue(a), fixedValue(b)
		if kind == protoreflect.Sfixed32Kind {
			return cmpInt(int64(int32(x)), int64(int32(y)))
		}
		if kind == protoreflect.Sfixed64Kind {
			return cmpInt(int64(x), int64(y))
		}
		return cmpUint(x, y)
	}
	x, _ := protowire.ConsumeVarint(a)
	y, _ := protowire.ConsumeVarint(b)
	switch kind {
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		return cmpInt(int64(x), int64(y))
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return cmpInt(protowire.DecodeZigZag(x), protowire.DecodeZigZag(y))
	}
	return cmpUint(x, y)
}

func fixedValue(b []byte) uint64 {
	if len(b) == 4 {
		v, _ := protowire.ConsumeFixed32(b)
		return uint64(v)
	}
	v, _ := protowire.ConsumeFixed64(b)
	return v
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func consumeBytes(b []byte, typ protowire.Type) ([]byte, bool) {
	if typ != protowire.BytesType {
		return nil, false
	}
	l, n := protowire.ConsumeVarint(b)
	if n < 0 || n != protowire.SizeVarint(l) || uint64(len(b)-n) < l {
		return nil, false
	}
	return b[n : n+int(l)], true
}

// lenPrefixed is the wire size of v with its length prefix.
func lenPrefixed(v []byte) int { return protowire.SizeBytes(len(v)) }

// consumeScalar checks one scalar value of kind at the start of b, written
// as the Encoder would (minimal varints, canonical bools and 32-bit values;
// zero values only when zeroOK), and returns its size or -1.
func consumeScalar(b []byte, kind protoreflect.Kind, typ protowire.Type, zeroOK bool) int {
	if typ != wireType(kind) {
		return -1
	}
	switch typ {
	case protowire.VarintType:
		v, n := protowire.ConsumeVarint(b)
		if n < 0 || n != protowire.SizeVarint(v) || (v == 0 && !zeroOK) {
			return -1
		}
		switch kind {
		case protoreflect.BoolKind:
			if v > 1 {
				return -1
			}
		case protoreflect.Int32Kind, protoreflect.EnumKind:
			if uint64(int64(int32(v))) != v {
				return -1
			}
		case protoreflect.Uint32Kind, protoreflect.Sint32Kind:
			if v > math.MaxUint32 {
				return -1
			}
		}
		return n
	case protowire.Fixed32Type:
		v, n := protowire.ConsumeFixed32(b)
		if n < 0 || (v == 0 && !zeroOK) {
			return -1
		}
		return n
	case protowire.Fixed64Type:
		v, n := protowire.ConsumeFixed64(b)
		if n < 0 || (v == 0 && !zeroOK) {
			return -1
		}
		return n
	case protowire.BytesType:
		v, ok := consumeBytes(b, typ)
		if !ok || (len(v) == 0 && !zeroOK) {
			return -1
		}
		return lenPrefixed(v)
	}
	return -1
}
