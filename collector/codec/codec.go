// Package codec holds the collector's descriptor-compiled codecs, built
// once per contract: the encoder that re-encodes a decoded payload
// canonically with its PII handling applied (Codec, Encoder), the check
// that a payload is already in that form (Codec.Canonical), and the
// HTTP/JSON fast path that transcodes protojson straight to the wire form
// (JSON, TranscodeJSON, SplitEvents, PeekEvent). Each is held to its
// reference (protobuf-go's deterministic marshal, protojson,
// encoding/json) by tests and fuzz targets.
package codec

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/fieldcrypt"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// The codec re-encodes a decoded payload canonically (fields in
// protobuf-go's wire order, see wireOrder; map entries sorted by key, packed repeated scalars, unset fields
// left out) while applying PII handling and collecting unknown fields, in
// one walk. It reads the message through protoreflect only, so it works on
// read-only hyperpb messages; equal payloads give equal bytes.

// Codec is the precomputed encoding plan of one message type.
type Codec struct {
	md     protoreflect.MessageDescriptor
	fields []fieldCodec // in wire order
	// dense maps a field number to its position in fields (-1: unknown)
	// when numbers are small; sparse otherwise.
	dense  []int16
	sparse map[protowire.Number]int
	// need are the keys the encrypted fields of the root type and every
	// type it reaches use (set on the codec Compile returns).
	need fieldcrypt.Need
}

// Encrypts is the keys c's encrypted fields (at any depth) use; 0 when
// it has none.
func (c *Codec) Encrypts() fieldcrypt.Need { return c.need }

// position is where field num sits in c.fields, or -1.
func (c *Codec) position(num protowire.Number) int {
	if c.dense != nil {
		if int(num) < len(c.dense) {
			return int(c.dense[num])
		}
		return -1
	}
	if i, ok := c.sparse[num]; ok {
		return i
	}
	return -1
}

type fieldCodec struct {
	fd     protoreflect.FieldDescriptor
	num    protowire.Number
	pii    optionsv1.PiiHandling
	child  *Codec // message or group element type
	mapKey protoreflect.FieldDescriptor
	mapVal protoreflect.FieldDescriptor
	valMsg *Codec // message map values
	oneof  int    // 1 + index of the (non-synthetic) oneof, or 0
	// Encrypted fields: the key's kind and scope, and the associated data
	// (the field's full name).
	kind  fieldcrypt.Kind
	scope fieldcrypt.Scope
	aad   []byte
}

// handling is f's PII handling; a nil f (a map key) has none.
func (f *fieldCodec) handling() optionsv1.PiiHandling {
	if f == nil {
		return piiNone
	}
	return f.pii
}

// Compile returns the codec of md and every type it reaches, and
// whether any of them has a field with PII handling.
func Compile(md protoreflect.MessageDescriptor) (_ *Codec, hasPII bool) {
	memo := map[protoreflect.FullName]*Codec{}
	var need fieldcrypt.Need
	var build func(md protoreflect.MessageDescriptor) *Codec
	build = func(md protoreflect.MessageDescriptor) *Codec {
		if c, ok := memo[md.FullName()]; ok {
			return c
		}
		c := &Codec{md: md}
		memo[md.FullName()] = c
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			fo := contract.FieldOptions(fd)
			f := fieldCodec{fd: fd, num: fd.Number(), pii: fo.GetPii()}
			hasPII = hasPII || f.pii != piiNone
			if f.pii == piiEncrypt || f.pii == piiDeterministic {
				f.kind = fieldcrypt.AEAD
				if f.pii == piiDeterministic {
					f.kind = fieldcrypt.Deterministic
				}
				if fo.GetKeyScope() == optionsv1.KeyScope_KEY_SCOPE_DATA_SUBJECT {
					f.scope = fieldcrypt.DataSubject
				}
				f.aad = []byte(fd.FullName())
				need |= fieldcrypt.NeedOf(f.kind, f.scope)
			}
			if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
				f.oneof = od.Index() + 1
			}
			switch {
			case fd.IsMap():
				f.mapKey, f.mapVal = fd.MapKey(), fd.MapValue()
				if m := f.mapVal.Message(); m != nil {
					f.valMsg = build(m)
				}
			case fd.Message() != nil:
				f.child = build(fd.Message())
			}
			c.fields = append(c.fields, f)
		}
		slices.SortFunc(c.fields, wireOrder)
		maxNum := protowire.Number(0)
		for _, f := range c.fields {
			maxNum = max(maxNum, f.num)
		}
		if maxNum < 1024 {
			c.dense = make([]int16, maxNum+1)
			for i := range c.dense {
				c.dense[i] = -1
			}
			for i, f := range c.fields {
				c.dense[f.num] = int16(i)
			}
		} else {
			c.sparse = make(map[protowire.Number]int, len(c.fields))
			for i, f := range c.fields {
				c.sparse[f.num] = i
			}
		}
		return c
	}
	root := build(md)
	root.need = need
	return root, hasPII
}

// wireOrder is protobuf-go's wire order (what generated code writes, and
// what other consumers of the topic are used to): fields outside oneofs by
// number, then oneof members by oneof declaration, then number. Keeping it
// lets the hot path publish most producers' bytes unchanged.
func wireOrder(a, b fieldCodec) int {
	if (a.oneof > 0) != (b.oneof > 0) {
		if a.oneof == 0 {
			return -1
		}
		return 1
	}
	if a.oneof != b.oneof {
		return cmp.Compare(a.oneof, b.oneof)
	}
	return cmp.Compare(a.num, b.num)
}

// Encoder carries the state of one encode. Its zero value encodes
// without PII handling; set Hasher for a contract with PII fields.
type Encoder struct {
	// Hasher hashes the values of HASH fields.
	Hasher *Hasher
	// Keys encrypt the values of ENCRYPT fields; the codec's Encrypts says
	// which it must hold. Without them (or when a key fails) the field is
	// left out and Err says why: an encrypted field is never written in
	// clear.
	Keys *fieldcrypt.Keys
	// Applied: PII handling was applied before (a replayed FailedEvent):
	// values that already look hashed are kept as they are, and values
	// that already decrypt with the field's key are not encrypted again.
	Applied bool
	err     error
	unknown []*eventv1.Violation
	// moreUnknown counts the unknown fields past maxUnknownReported.
	moreUnknown int
	keys        []protoreflect.MapKey // scratch for sorting map keys
}

const (
	piiNone   = optionsv1.PiiHandling_PII_HANDLING_UNSPECIFIED
	piiHash   = optionsv1.PiiHandling_PII_HANDLING_HASH
	piiRedact = optionsv1.PiiHandling_PII_HANDLING_REDACT
	piiDrop   = optionsv1.PiiHandling_PII_HANDLING_DROP

	piiEncrypt       = optionsv1.PiiHandling_PII_HANDLING_ENCRYPT
	piiDeterministic = optionsv1.PiiHandling_PII_HANDLING_ENCRYPT_DETERMINISTIC
)

// Err is the first failure to encrypt a field of the encodes so far (a
// key that was not resolved); the output of such an encode must not be
// used.
func (e *Encoder) Err() error { return e.err }

// Encode appends m, a message of c's type, to b: canonically, with the
// PII handling of c's contract applied. Unknown fields are left out and
// reported by Unknown.
func (e *Encoder) Encode(b []byte, m protoreflect.Message, c *Codec) []byte {
	return e.message(b, m, c, nil)
}

// Unknown is the unknown fields the encodes so far met, one violation each
// up to a bound, and how many more there were.
func (e *Encoder) Unknown() (reported []*eventv1.Violation, more int) {
	return e.unknown, e.moreUnknown
}

func (e *Encoder) message(b []byte, m protoreflect.Message, c *Codec, path *pathElem) []byte {
	if u := m.GetUnknown(); len(u) > 0 {
		e.reportUnknown(u, path)
	}
	for i := range c.fields {
		f := &c.fields[i]
		fd := f.fd
		if f.pii == piiDrop || !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case f.mapKey != nil:
			b = e.mapField(b, f, v.Map(), path)
		case fd.IsList():
			b = e.listField(b, f, v.List(), path)
		case f.child != nil:
			if f.pii != piiNone && !isHashableWrapper(fd.Message(), f.pii) {
				continue // a message cannot be redacted field by field: leave it out
			}
			el := pathElem{parent: path, name: fd.Name(), index: -1}
			b = e.nested(b, f.num, fd.Kind(), v.Message(), f.child, f, &el)
		default:
			b = e.scalar(b, fd, f.num, v, f)
		}
	}
	return b
}

// maxUnknownReported bounds the unknown fields reported one by one: a
// payload of 3-byte unknown fields would otherwise grow a violation per 3
// bytes, hundreds of times its size, and a FailedEvent too big to publish.
const maxUnknownReported = 20

func (e *Encoder) reportUnknown(u []byte, path *pathElem) {
	for len(u) > 0 {
		num, _, n := protowire.ConsumeField(u)
		if n < 0 {
			break
		}
		if len(e.unknown) >= maxUnknownReported {
			e.moreUnknown++
			u = u[n:]
			continue
		}
		p := path.String()
		msg := fmt.Sprintf("unknown field number %d", num)
		if p != "" {
			msg += " in " + p
		}
		e.unknown = append(e.unknown, &eventv1.Violation{FieldPath: p, RuleId: "unknown_field", Message: msg})
		u = u[n:]
	}
}

// nested writes a message-typed value: length-delimited (or a group),
// applying handling to a wrapper's value.
func (e *Encoder) nested(b []byte, num protowire.Number, kind protoreflect.Kind, m protoreflect.Message, c *Codec, outer *fieldCodec, path *pathElem) []byte {
	if kind == protoreflect.GroupKind {
		b = protowire.AppendTag(b, num, protowire.StartGroupType)
		b = e.messageWith(b, m, c, outer, path)
		return protowire.AppendTag(b, num, protowire.EndGroupType)
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	start := len(b)
	b = append(b, 0) // room for a one-byte length; moved when longer
	b = e.messageWith(b, m, c, outer, path)
	return fixLength(b, start)
}

// messageWith writes m, the value of the field outer, with outer's
// handling applied.
func (e *Encoder) messageWith(b []byte, m protoreflect.Message, c *Codec, outer *fieldCodec, path *pathElem) []byte {
	handling := outer.handling()
	if handling == piiNone {
		return e.message(b, m, c, path)
	}
	if !isHashableWrapper(c.md, handling) {
		return b // redacted message: empty
	}
	// StringValue/BytesValue: field 1 "value" gets the handling.
	if u := m.GetUnknown(); len(u) > 0 {
		e.reportUnknown(u, path)
	}
	fd := c.md.Fields().ByNumber(1)
	if fd == nil || !m.Has(fd) {
		return b
	}
	// The wrapper's value is encrypted as the outer field (its associated
	// data, its key).
	return e.scalar(b, fd, 1, m.Get(fd), outer)
}

// fixLength writes the length of b[start+1:] as a varint at b[start],
// moving the content when the varint needs more than one byte.
func fixLength(b []byte, start int) []byte {
	n := len(b) - start - 1
	if n < 0x80 {
		b[start] = byte(n)
		return b
	}
	k := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, k-1)...)
	copy(b[start+k:], b[start+1:start+1+n])
	protowire.AppendVarint(b[start:start], uint64(n))
	return b
}

func (e *Encoder) listField(b []byte, f *fieldCodec, l protoreflect.List, path *pathElem) []byte {
	fd := f.fd
	n := l.Len()
	if n == 0 {
		return b
	}
	if f.child != nil {
		for i := range n {
			el := pathElem{parent: path, name: fd.Name(), index: i}
			if f.pii != piiNone && !isHashableWrapper(f.child.md, f.pii) {
				// Keep the element count, empty the elements.
				b = e.nested(b, f.num, fd.Kind(), nil, f.child, f, &el)
				continue
			}
			b = e.nested(b, f.num, fd.Kind(), l.Get(i).Message(), f.child, f, &el)
		}
		return b
	}
	if fd.IsPacked() {
		b = protowire.AppendTag(b, f.num, protowire.BytesType)
		start := len(b)
		b = append(b, 0)
		for i := range n {
			b = appendValue(b, fd.Kind(), e.transform(fd.Kind(), l.Get(i), f))
		}
		return fixLength(b, start)
	}
	for i := range n {
		b = e.scalarAlways(b, fd, f.num, l.Get(i), f)
	}
	return b
}

func (e *Encoder) mapField(b []byte, f *fieldCodec, mp protoreflect.Map, path *pathElem) []byte {
	if mp.Len() == 0 {
		return b
	}
	keys := e.keys[:0]
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	kind := f.mapKey.Kind()
	slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return compareKeys(kind, a, b) })
	// Nested maps would overwrite the scratch slice: take it.
	e.keys = nil
	for _, k := range keys {
		b = protowire.AppendTag(b, f.num, protowire.BytesType)
		start := len(b)
		b = append(b, 0)
		b = e.scalarAlways(b, f.mapKey, 1, k.Value(), nil)
		v := mp.Get(k)
		if f.valMsg != nil {
			el := pathElem{parent: path, name: f.fd.Name(), index: -1, key: k.String(), hasKey: true}
			if f.pii != piiNone && !isHashableWrapper(f.valMsg.md, f.pii) {
				b = e.nested(b, 2, protoreflect.MessageKind, nil, f.valMsg, f, &el)
			} else {
				b = e.nested(b, 2, protoreflect.MessageKind, v.Message(), f.valMsg, f, &el)
			}
		} else {
			b = e.scalarAlways(b, f.mapVal, 2, v, f)
		}
		b = fixLength(b, start)
	}
	e.keys = keys[:0]
	return b
}

func compareKeys(kind protoreflect.Kind, a, b protoreflect.MapKey) int {
	switch kind {
	case protoreflect.StringKind:
		return strings.Compare(a.String(), b.String())
	case protoreflect.BoolKind:
		x, y := a.Bool(), b.Bool()
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return cmp.Compare(a.Uint(), b.Uint())
	default:
		return cmp.Compare(a.Int(), b.Int())
	}
}

// scalar writes a set singular scalar fd, transformed by the handling of
// the field f (fd itself, or the wrapper field whose value fd is). A value
// that the transform turns into its zero is still written when the field
// tracks presence, and left out otherwise (canonical proto3).
func (e *Encoder) scalar(b []byte, fd protoreflect.FieldDescriptor, num protowire.Number, v protoreflect.Value, f *fieldCodec) []byte {
	v = e.transform(fd.Kind(), v, f)
	if !fd.HasPresence() && isZero(fd.Kind(), v) {
		return b
	}
	return appendTagged(b, fd.Kind(), num, v)
}

// scalarAlways writes a list element, map key or map value (f nil: no
// handling).
func (e *Encoder) scalarAlways(b []byte, fd protoreflect.FieldDescriptor, num protowire.Number, v protoreflect.Value, f *fieldCodec) []byte {
	return appendTagged(b, fd.Kind(), num, e.transform(fd.Kind(), v, f))
}

func (e *Encoder) transform(kind protoreflect.Kind, v protoreflect.Value, f *fieldCodec) protoreflect.Value {
	handling := f.handling()
	if handling == piiNone || handling == piiDrop {
		return v
	}
	if handling == piiEncrypt || handling == piiDeterministic {
		switch kind {
		case protoreflect.StringKind, protoreflect.BytesKind:
			return e.encrypt(kind, v, f)
		}
		// Admission refuses encrypting other kinds; should one get here,
		// it is redacted below, never written in clear.
	}
	hash := handling == piiHash
	switch kind {
	case protoreflect.StringKind:
		if hash {
			if e.Applied && looksHashed(v.String()) {
				return v
			}
			return protoreflect.ValueOfString(e.Hasher.hexString(v.String()))
		}
		return protoreflect.ValueOfString(Redacted)
	case protoreflect.BytesKind:
		if hash {
			if e.Applied && len(v.Bytes()) == sha256.Size {
				return v
			}
			return protoreflect.ValueOfBytes(e.Hasher.sum(v.Bytes()))
		}
		return protoreflect.ValueOfBytes(nil)
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(false)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(0)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(0)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(0)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(0)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(0)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(0)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(0)
	}
	return v
}

func isZero(kind protoreflect.Kind, v protoreflect.Value) bool {
	switch kind {
	case protoreflect.StringKind:
		return v.String() == ""
	case protoreflect.BytesKind:
		return len(v.Bytes()) == 0
	case protoreflect.BoolKind:
		return !v.Bool()
	case protoreflect.EnumKind:
		return v.Enum() == 0
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		return f == 0 && !math.Signbit(f)
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return v.Uint() == 0
	default:
		return v.Int() == 0
	}
}

func appendTagged(b []byte, kind protoreflect.Kind, num protowire.Number, v protoreflect.Value) []byte {
	b = protowire.AppendTag(b, num, wireType(kind))
	return appendValue(b, kind, v)
}

func wireType(kind protoreflect.Kind) protowire.Type {
	switch kind {
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	default:
		return protowire.VarintType
	}
}

func appendValue(b []byte, kind protoreflect.Kind, v protoreflect.Value) []byte {
	switch kind {
	case protoreflect.StringKind:
		return protowire.AppendString(b, v.String())
	case protoreflect.BytesKind:
		return protowire.AppendBytes(b, v.Bytes())
	case protoreflect.BoolKind:
		return protowire.AppendVarint(b, protowire.EncodeBool(v.Bool()))
	case protoreflect.EnumKind:
		return protowire.AppendVarint(b, uint64(v.Enum()))
	case protoreflect.Int32Kind:
		return protowire.AppendVarint(b, uint64(int32(v.Int())))
	case protoreflect.Int64Kind:
		return protowire.AppendVarint(b, uint64(v.Int()))
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		return protowire.AppendVarint(b, v.Uint())
	case protoreflect.Sint32Kind:
		return protowire.AppendVarint(b, uint64(protowire.EncodeZigZag(int64(int32(v.Int())))&0xffffffff))
	case protoreflect.Sint64Kind:
		return protowire.AppendVarint(b, protowire.EncodeZigZag(v.Int()))
	case protoreflect.Fixed32Kind:
		return protowire.AppendFixed32(b, uint32(v.Uint()))
	case protoreflect.Sfixed32Kind:
		return protowire.AppendFixed32(b, uint32(int32(v.Int())))
	case protoreflect.Fixed64Kind:
		return protowire.AppendFixed64(b, v.Uint())
	case protoreflect.Sfixed64Kind:
		return protowire.AppendFixed64(b, uint64(v.Int()))
	case protoreflect.FloatKind:
		return protowire.AppendFixed32(b, math.Float32bits(float32(v.Float())))
	case protoreflect.DoubleKind:
		return protowire.AppendFixed64(b, math.Float64bits(v.Float()))
	}
	return b
}
