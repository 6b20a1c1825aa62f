package bigquery

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	_ "google.golang.org/protobuf/types/known/structpb" // JSON columns decode Struct, Value and ListValue

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/wire"
)

// The encoder transcodes payload wire bytes straight into row wire bytes:
// no message is materialized, so a row costs about what copying the
// payload does. Each field of the payload is looked up in a plan built once
// per (payload descriptor, row schema) pair.

// conv is how one payload field becomes a row field.
type conv uint8

const (
	convVarint    conv = iota // int64, uint32: the varint is the int64
	convBool                  // varint, normalized to 0/1
	convInt32                 // varint, sign-extended from 32 bits
	convSint32                // zigzag
	convSint64                // zigzag
	convFixed32               // unsigned 32-bit → int64
	convSfixed32              // signed 32-bit → int64
	convSfixed64              // signed 64-bit → int64
	convUint64                // varint → NUMERIC text
	convFixed64               // fixed 64-bit → NUMERIC text
	convFloat                 // float → double
	convDouble                // double
	convEnum                  // number → value name
	convBytes                 // string, bytes: copied
	convRecord                // message → nested row message
	convTimestamp             // google.protobuf.Timestamp → int64 micros
	convDate                  // google.type.Date → int32 days
	convDuration              // google.protobuf.Duration → INTERVAL text
	convJSON                  // Struct, Value, ListValue → JSON text
	convWrapper               // google.protobuf.*Value → its scalar
)

// wireType is the payload wire type a scalar conv reads.
func (c conv) wireType() protowire.Type {
	switch c {
	case convFixed32, convSfixed32, convFloat:
		return protowire.Fixed32Type
	case convSfixed64, convFixed64, convDouble:
		return protowire.Fixed64Type
	case convBytes, convRecord, convTimestamp, convDate, convDuration, convJSON, convWrapper:
		return protowire.BytesType
	}
	return protowire.VarintType
}

type fieldPlan struct {
	name     protoreflect.Name
	row      protowire.Number
	conv     conv
	repeated bool
	implicit int // index among the message's implicit-presence fields, or -1
	sub      *msgPlan
	inner    *fieldPlan // a wrapper's value
	enum     map[int32]string
	json     protoreflect.MessageType
}

type msgPlan struct {
	dense    []*fieldPlan // by field number, for small numbers
	sparse   map[protowire.Number]*fieldPlan
	implicit []*fieldPlan // written as their zero value when absent
}

func (p *msgPlan) field(n protowire.Number) *fieldPlan {
	if int(n) < len(p.dense) {
		return p.dense[n]
	}
	return p.sparse[n]
}

const maxDense = 256

// newMsgPlan plans the transcoding of src messages into row messages of
// cols (described by row). Payload fields without a column are skipped.
func newMsgPlan(src protoreflect.MessageDescriptor, cols []contract.Column, row protoreflect.MessageDescriptor) (*msgPlan, error) {
	p := &msgPlan{sparse: map[protowire.Number]*fieldPlan{}}
	fields := src.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		col, ok := contract.Lookup(cols, string(fd.Name()))
		rf := row.Fields().ByName(protoreflect.Name(col.Name))
		if !ok || rf == nil {
			continue
		}
		f, err := newFieldPlan(fd, col, rf)
		if err != nil {
			return nil, err
		}
		f.implicit = -1
		if !fd.HasPresence() && !fd.IsList() && !fd.IsMap() && fd.Message() == nil {
			f.implicit = len(p.implicit)
			p.implicit = append(p.implicit, f)
		}
		if fd.Number() < maxDense {
			for len(p.dense) <= int(fd.Number()) {
				p.dense = append(p.dense, nil)
			}
			p.dense[fd.Number()] = f
		} else {
			p.sparse[fd.Number()] = f
		}
	}
	return p, nil
}

func newFieldPlan(fd protoreflect.FieldDescriptor, col contract.Column, rf protoreflect.FieldDescriptor) (*fieldPlan, error) {
	f := &fieldPlan{name: fd.Name(), row: rf.Number(), repeated: fd.IsList() || fd.IsMap()}
	if fd.IsMap() {
		entry := fd.Message()
		sub, err := newMsgPlan(entry, col.Fields, rf.Message())
		if err != nil {
			return nil, err
		}
		// A map entry's key and value read as zero when absent, whatever
		// the file's syntax says.
		sub.implicit = sub.implicit[:0]
		for _, n := range []protowire.Number{1, 2} {
			ef := sub.field(n)
			if ef == nil || ef.conv >= convRecord { // message values stay NULL when absent
				continue
			}
			ef.implicit = len(sub.implicit)
			sub.implicit = append(sub.implicit, ef)
		}
		f.conv, f.sub = convRecord, sub
		return f, nil
	}
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		md := fd.Message()
		switch col.Type {
		case contract.Timestamp:
			f.conv = convTimestamp
		case contract.Date:
			f.conv = convDate
		case contract.Interval:
			f.conv = convDuration
		case contract.JSON:
			mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fd.FullName(), err)
			}
			f.conv, f.json = convJSON, mt
		case contract.Record:
			sub, err := newMsgPlan(md, col.Fields, rf.Message())
			if err != nil {
				return nil, err
			}
			f.conv, f.sub = convRecord, sub
		default:
			if !contract.IsWrapper(md) {
				return nil, fmt.Errorf("%s: a %s column cannot hold a %s", fd.FullName(), col.Type, md.FullName())
			}
			vf := md.Fields().ByNumber(1)
			inner, err := newFieldPlan(vf, contract.Column{Type: col.Type}, rf)
			if err != nil {
				return nil, err
			}
			f.conv, f.inner = convWrapper, inner
		}
		return f, nil
	}
	f.conv = scalarConv(fd.Kind())
	if fd.Kind() == protoreflect.EnumKind {
		values := fd.Enum().Values()
		f.enum = make(map[int32]string, values.Len())
		for i := range values.Len() {
			v := values.Get(i)
			if _, dup := f.enum[int32(v.Number())]; !dup { // aliases: the first name
				f.enum[int32(v.Number())] = string(v.Name())
			}
		}
	}
	return f, nil
}

func scalarConv(k protoreflect.Kind) conv {
	switch k {
	case protoreflect.BoolKind:
		return convBool
	case protoreflect.Int32Kind:
		return convInt32
	case protoreflect.Sint32Kind:
		return convSint32
	case protoreflect.Sint64Kind:
		return convSint64
	case protoreflect.Fixed32Kind:
		return convFixed32
	case protoreflect.Sfixed32Kind:
		return convSfixed32
	case protoreflect.Sfixed64Kind:
		return convSfixed64
	case protoreflect.Uint64Kind:
		return convUint64
	case protoreflect.Fixed64Kind:
		return convFixed64
	case protoreflect.FloatKind:
		return convFloat
	case protoreflect.DoubleKind:
		return convDouble
	case protoreflect.EnumKind:
		return convEnum
	case protoreflect.StringKind, protoreflect.BytesKind:
		return convBytes
	}
	return convVarint // int64, uint32
}

// ErrCorrupt is returned for payload bytes that are not valid protobuf
// wire format for their descriptor.
var ErrCorrupt = errors.New("payload is not valid protobuf wire format")

// encoder holds scratch buffers, one per nesting depth.
type encoder struct{ scratch [][]byte }

var encoders = sync.Pool{New: func() any { return &encoder{} }}

func (e *encoder) buf(depth int) []byte {
	for len(e.scratch) <= depth {
		e.scratch = append(e.scratch, make([]byte, 0, 256))
	}
	return e.scratch[depth][:0]
}

// AppendRow appends the row message of ev to dst. The event's schema must
// be a version of the table's subject no newer than the row schema.
func (rs *RowSchema) AppendRow(dst []byte, ev *sink.Event) ([]byte, error) {
	p, err := rs.plan(ev.Schema.Descriptor())
	if err != nil {
		return dst, err
	}
	m := &rs.meta
	if m.eventID != 0 {
		dst = protowire.AppendTag(dst, m.eventID, protowire.BytesType)
		dst = protowire.AppendString(dst, ev.ID)
	}
	dst = appendTime(dst, m.eventTime, ev.EventTime)
	dst = appendTime(dst, m.receivedAt, ev.ReceivedAt)
	dst = appendTime(dst, m.publishedAt, ev.PublishedAt)
	if m.schemaID != 0 {
		dst = protowire.AppendTag(dst, m.schemaID, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(ev.Schema.ID))
	}
	if m.schemaVersion != 0 {
		dst = protowire.AppendTag(dst, m.schemaVersion, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(ev.Schema.Version))
	}
	if m.producer != 0 && ev.Producer != "" {
		dst = protowire.AppendTag(dst, m.producer, protowire.BytesType)
		dst = protowire.AppendString(dst, ev.Producer)
	}
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	if m.attributes != 0 && len(ev.Attributes) > 0 {
		dst = protowire.AppendTag(dst, m.attributes, protowire.BytesType)
		e.scratch[0] = appendAttributes(e.buf(0), ev.Attributes) // kept: no allocation next row
		dst = protowire.AppendBytes(dst, e.scratch[0])
	}
	return e.message(dst, ev.Payload, p, 0)
}

// appendAttributes writes attributes as a JSON object with sorted keys (as
// encoding/json would, without its reflection: this is a per-row cost).
func appendAttributes(dst []byte, attrs map[string]string) []byte {
	var small [8]string
	keys := small[:0]
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, attrs[k])
	}
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		b, _ := json.Marshal(s) // replaces invalid bytes with U+FFFD
		return append(dst, b...)
	}
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func appendTime(dst []byte, n protowire.Number, t time.Time) []byte {
	if n == 0 || t.IsZero() {
		return dst
	}
	dst = protowire.AppendTag(dst, n, protowire.VarintType)
	return protowire.AppendVarint(dst, uint64(t.UnixMicro()))
}

// message transcodes the fields of one payload message into dst.
func (e *encoder) message(dst, src []byte, p *msgPlan, depth int) ([]byte, error) {
	var seen uint64
	var seenMore []bool
	if len(p.implicit) > 64 {
		seenMore = make([]bool, len(p.implicit))
	}
	for len(src) > 0 {
		num, typ, n := protowire.ConsumeTag(src)
		if n < 0 {
			return dst, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
		}
		src = src[n:]
		f := p.field(num)
		if f == nil { // a field the table does not have
			if n = protowire.ConsumeFieldValue(num, typ, src); n < 0 {
				return dst, fmt.Errorf("%w: field %d: %v", ErrCorrupt, num, protowire.ParseError(n))
			}
			src = src[n:]
			continue
		}
		var err error
		if dst, n, err = e.field(dst, f, typ, src, depth); err != nil {
			return dst, fmt.Errorf("%s: %w", f.name, err)
		}
		src = src[n:]
		switch {
		case f.implicit < 0:
		case seenMore != nil:
			seenMore[f.implicit] = true
		default:
			seen |= 1 << f.implicit
		}
	}
	for i, f := range p.implicit {
		if seenMore != nil && seenMore[i] || seenMore == nil && seen&(1<<i) != 0 {
			continue
		}
		if f.conv == convBytes {
			dst = protowire.AppendTag(dst, f.row, protowire.BytesType)
			dst = protowire.AppendVarint(dst, 0)
			continue
		}
		dst = f.appendScalar(dst, 0)
	}
	return dst, nil
}

// field transcodes one occurrence of a field; n is the bytes of src read.
func (e *encoder) field(dst []byte, f *fieldPlan, typ protowire.Type, src []byte, depth int) (_ []byte, n int, err error) {
	want := f.conv.wireType()
	if typ == protowire.BytesType && want != protowire.BytesType && f.repeated { // packed
		v, n := protowire.ConsumeBytes(src)
		if n < 0 {
			return dst, 0, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
		}
		for len(v) > 0 {
			raw, m := consumeScalar(want, v)
			if m < 0 {
				return dst, 0, fmt.Errorf("%w: packed: %v", ErrCorrupt, protowire.ParseError(m))
			}
			dst, v = f.appendScalar(dst, raw), v[m:]
		}
		return dst, n, nil
	}
	if typ != want {
		return dst, 0, fmt.Errorf("%w: wire type %d, want %d", ErrCorrupt, typ, want)
	}
	if want != protowire.BytesType {
		raw, n := consumeScalar(want, src)
		if n < 0 {
			return dst, 0, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
		}
		return f.appendScalar(dst, raw), n, nil
	}
	v, n := protowire.ConsumeBytes(src)
	if n < 0 {
		return dst, 0, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
	}
	switch f.conv {
	case convBytes:
		dst = protowire.AppendTag(dst, f.row, protowire.BytesType)
		return protowire.AppendBytes(dst, v), n, nil
	case convRecord:
		if depth > contract.MaxRecordDepth+1 {
			return dst, 0, fmt.Errorf("%w: nested too deep", ErrCorrupt)
		}
		child, err := e.message(e.buf(depth+1), v, f.sub, depth+1)
		e.scratch[depth+1] = child
		if err != nil {
			return dst, 0, err
		}
		dst = protowire.AppendTag(dst, f.row, protowire.BytesType)
		return protowire.AppendBytes(dst, child), n, nil
	case convTimestamp:
		secs, nanos, err := secondsNanos(v)
		if err != nil {
			return dst, 0, err
		}
		dst = protowire.AppendTag(dst, f.row, protowire.VarintType)
		return protowire.AppendVarint(dst, uint64(secs*1_000_000+nanos/1000)), n, nil
	case convDuration:
		secs, nanos, err := secondsNanos(v)
		if err != nil {
			return dst, 0, err
		}
		dst = protowire.AppendTag(dst, f.row, protowire.BytesType)
		return protowire.AppendString(dst, intervalText(secs, nanos)), n, nil
	case convDate:
		days, err := dateDays(v)
		if err != nil {
			return dst, 0, err
		}
		dst = protowire.AppendTag(dst, f.row, protowire.VarintType)
		return protowire.AppendVarint(dst, uint64(days)), n, nil
	case convJSON:
		m := f.json.New()
		if err := wire.Unmarshal(proto.UnmarshalOptions{}, v, m.Interface()); err != nil {
			return dst, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		text, err := protojson.Marshal(m.Interface())
		if err != nil {
			return dst, 0, err
		}
		dst = protowire.AppendTag(dst, f.row, protowire.BytesType)
		return protowire.AppendBytes(dst, text), n, nil
	case convWrapper:
		dst, err := e.wrapper(dst, f.inner, v)
		return dst, n, err
	}
	return dst, 0, fmt.Errorf("bigquery: no transcoding for conv %d", f.conv)
}

// wrapper writes the value of a google.protobuf wrapper: present wrappers
// are never NULL, an absent value is the zero value.
func (e *encoder) wrapper(dst []byte, inner *fieldPlan, src []byte) ([]byte, error) {
	want := inner.conv.wireType()
	var raw uint64
	var bytes []byte
	for len(src) > 0 {
		num, typ, n := protowire.ConsumeTag(src)
		if n < 0 {
			return dst, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
		}
		src = src[n:]
		if num != 1 || typ != want {
			if n = protowire.ConsumeFieldValue(num, typ, src); n < 0 {
				return dst, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
			}
			src = src[n:]
			continue
		}
		if want == protowire.BytesType {
			bytes, n = protowire.ConsumeBytes(src)
		} else {
			raw, n = consumeScalar(want, src)
		}
		if n < 0 {
			return dst, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
		}
		src = src[n:]
	}
	if want == protowire.BytesType {
		dst = protowire.AppendTag(dst, inner.row, protowire.BytesType)
		return protowire.AppendBytes(dst, bytes), nil
	}
	return inner.appendScalar(dst, raw), nil
}

func consumeScalar(t protowire.Type, b []byte) (uint64, int) {
	switch t {
	case protowire.Fixed32Type:
		v, n := protowire.ConsumeFixed32(b)
		return uint64(v), n
	case protowire.Fixed64Type:
		return protowire.ConsumeFixed64(b)
	}
	return protowire.ConsumeVarint(b)
}

// appendScalar writes one scalar read as raw (varint or fixed bits).
func (f *fieldPlan) appendScalar(dst []byte, raw uint64) []byte {
	switch f.conv {
	case convFloat, convDouble:
		dst = protowire.AppendTag(dst, f.row, protowire.Fixed64Type)
		if f.conv == convFloat {
			raw = math.Float64bits(float64(math.Float32frombits(uint32(raw))))
		}
		return protowire.AppendFixed64(dst, raw)
	case convUint64, convFixed64:
		var digits [20]byte
		dst = protowire.AppendTag(dst, f.row, protowire.BytesType)
		return protowire.AppendBytes(dst, strconv.AppendUint(digits[:0], raw, 10))
	case convEnum:
		dst = protowire.AppendTag(dst, f.row, protowire.BytesType)
		if name, ok := f.enum[int32(raw)]; ok {
			return protowire.AppendString(dst, name)
		}
		var digits [11]byte
		return protowire.AppendBytes(dst, strconv.AppendInt(digits[:0], int64(int32(raw)), 10))
	}
	var v int64
	switch f.conv {
	case convBool:
		if raw != 0 {
			v = 1
		}
	case convInt32:
		v = int64(int32(raw))
	case convSint32:
		v = int64(int32(protowire.DecodeZigZag(uint64(uint32(raw)))))
	case convSint64:
		v = protowire.DecodeZigZag(raw)
	case convFixed32:
		v = int64(uint32(raw))
	case convSfixed32:
		v = int64(int32(uint32(raw)))
	default: // convVarint, convSfixed64
		v = int64(raw)
	}
	dst = protowire.AppendTag(dst, f.row, protowire.VarintType)
	return protowire.AppendVarint(dst, uint64(v))
}

// secondsNanos reads a Timestamp or Duration.
func secondsNanos(b []byte) (secs, nanos int64, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, 0, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.VarintType || num > 2 {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return 0, 0, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return 0, 0, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
		}
		b = b[n:]
		if num == 1 {
			secs = int64(v)
		} else {
			nanos = int64(int32(v))
		}
	}
	return secs, nanos, nil
}

// dateDays reads a google.type.Date as days since 1970-01-01.
func dateDays(b []byte) (int32, error) {
	var ymd [4]int64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.VarintType || num > 3 {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return 0, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return 0, fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
		}
		b = b[n:]
		ymd[num] = int64(int32(v))
	}
	d := time.Date(int(ymd[1]), time.Month(ymd[2]), int(ymd[3]), 0, 0, 0, 0, time.UTC)
	return int32(d.Unix() / 86400), nil
}

// intervalText formats a Duration in BigQuery's canonical INTERVAL form,
// Y-M D H:M:S[.F], all in the time part (a Duration has no calendar units).
func intervalText(secs, nanos int64) string {
	sign := ""
	if secs < 0 || nanos < 0 {
		sign, secs, nanos = "-", -secs, -nanos
	}
	out := fmt.Sprintf("0-0 0 %s%d:%d:%d", sign, secs/3600, secs/60%60, secs%60)
	if us := nanos / 1000; us > 0 {
		out += fmt.Sprintf(".%06d", us)
	}
	return out
}
