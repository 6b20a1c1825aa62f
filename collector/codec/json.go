package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/wire"
)

// The HTTP endpoint's fast path: protojson transcoded straight to the wire
// form by a program compiled once per message descriptor, where protojson
// would build a dynamicpb message, marshal it into the Any and marshal the
// Any again (two thirds of the endpoint's decoding CPU).
//
// It handles the JSON that producers send, the subset protojson itself
// writes: fields by JSON or proto name, integers as numbers or decimal
// strings, floats as numbers, enums by name or number, standard base64,
// Timestamp as RFC 3339 in UTC, Duration, the wrappers, and the event's
// Any when "@type" comes first. Anything else (null, NaN, Struct, an
// escape it does not know, a duplicate, a syntax error) makes it give up,
// and protojson, the reference, decodes the event and words the errors.
// So the fast path never accepts what protojson would refuse; the fuzz test
// holds it to that, and to decoding to the same message.

// JSON is the transcoding program of one message type.
type JSON struct {
	name   protoreflect.FullName
	wkt    wktKind
	fields []jsonField
	byName map[string]*jsonField // JSON and proto names
	oneofs int
}

type wktKind uint8

const (
	wktNone wktKind = iota
	wktTimestamp
	wktDuration
	wktWrapper
	wktAny
	wktUnsupported // Struct, Value, ListValue, FieldMask, Empty, an Any inside a contract
)

// jsonField is one field of a JSON.
type jsonField struct {
	index int
	num   protowire.Number
	kind  protoreflect.Kind
	list  bool
	msg   *JSON // message fields, and map values of message type
	enum  protoreflect.EnumDescriptor
	key   *jsonField // map fields: the entry's key and value
	value *jsonField
	oneof int // 1 + the index of its oneof among the message's, 0 when none
}

// CompileJSON compiles the program of md. anyAllowed says whether a
// google.protobuf.Any field is the event's payload (transcoded with the
// program given to transcode) rather than unsupported.
func CompileJSON(md protoreflect.MessageDescriptor, anyAllowed bool) *JSON {
	return compileJSONMessage(md, anyAllowed, map[protoreflect.FullName]*JSON{})
}

func compileJSONMessage(md protoreflect.MessageDescriptor, anyAllowed bool, seen map[protoreflect.FullName]*JSON) *JSON {
	if m, ok := seen[md.FullName()]; ok {
		return m // recursive types share their program
	}
	m := &JSON{name: md.FullName(), wkt: wktOf(md, anyAllowed)}
	seen[md.FullName()] = m
	if m.wkt == wktUnsupported || m.wkt == wktAny {
		return m
	}
	fields := md.Fields()
	m.fields = make([]jsonField, fields.Len())
	m.byName = make(map[string]*jsonField, 2*fields.Len())
	oneofs := map[protoreflect.FullName]int{}
	for i := range fields.Len() {
		fd := fields.Get(i)
		f := &m.fields[i]
		*f = compileJSONField(fd, anyAllowed, seen)
		f.index = i
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if _, ok := oneofs[od.FullName()]; !ok {
				oneofs[od.FullName()] = len(oneofs) + 1
			}
			f.oneof = oneofs[od.FullName()]
		}
		m.byName[fd.JSONName()] = f
		m.byName[string(fd.Name())] = f
	}
	m.oneofs = len(oneofs)
	return m
}

func compileJSONField(fd protoreflect.FieldDescriptor, anyAllowed bool, seen map[protoreflect.FullName]*JSON) jsonField {
	f := jsonField{num: fd.Number(), kind: fd.Kind(), list: fd.IsList(), enum: fd.Enum()}
	if fd.IsMap() {
		k := compileJSONField(fd.MapKey(), false, seen)
		v := compileJSONField(fd.MapValue(), anyAllowed, seen)
		f.key, f.value = &k, &v
		return f
	}
	if md := fd.Message(); md != nil {
		f.msg = compileJSONMessage(md, anyAllowed, seen)
	}
	return f
}

func wktOf(md protoreflect.MessageDescriptor, anyAllowed bool) wktKind {
	if md.ParentFile().Package() != "google.protobuf" {
		return wktNone
	}
	switch md.Name() {
	case "Timestamp":
		return wktTimestamp
	case "Duration":
		return wktDuration
	case "DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue", "BytesValue":
		return wktWrapper
	case "Any":
		if anyAllowed {
			return wktAny
		}
	}
	return wktUnsupported
}

// TranscodeJSON appends the wire form of the JSON object data, a message of
// program m, to dst. payload is the program of the event's Any. ok is
// false when the fast path gives up (see above).
func TranscodeJSON(dst, data []byte, m *JSON, payload *JSON) (out []byte, ok bool) {
	t := jsonTranscoder{s: jsonScanner{data: data}, payload: payload}
	out, ok = t.message(dst, m, 0)
	if !ok || t.s.peek() != 0 || t.s.pos != len(data) {
		return dst, false
	}
	return out, true
}

type jsonTranscoder struct {
	s       jsonScanner
	payload *JSON
}

// message transcodes the JSON value of a message of program m (an object,
// or a well-known type's JSON form).
func (t *jsonTranscoder) message(dst []byte, m *JSON, depth int) ([]byte, bool) {
	if depth > wire.MaxDepth {
		return dst, false
	}
	switch m.wkt {
	case wktTimestamp:
		return t.timestamp(dst)
	case wktDuration:
		return t.duration(dst)
	case wktWrapper:
		return t.value(dst, &m.fields[0], depth)
	case wktAny:
		return t.anyPayload(dst, depth)
	case wktUnsupported:
		return dst, false
	}
	if !t.s.consume('{') {
		return dst, false
	}
	if t.s.consume('}') {
		return dst, true
	}
	return t.members(dst, m, depth)
}

// members transcodes the members of an object of program m, from the
// first member's name through the closing brace.
func (t *jsonTranscoder) members(dst []byte, m *JSON, depth int) ([]byte, bool) {
	var seenSmall [2]uint64
	seen := seenSmall[:]
	if n := (len(m.fields) + 63) / 64; n > len(seen) {
		seen = make([]uint64, n)
	}
	var oneofSmall [4]bool
	oneofs := oneofSmall[:]
	if m.oneofs >= len(oneofs) {
		oneofs = make([]bool, m.oneofs+1)
	}
	for {
		name, ok := t.s.str()
		if !ok || !t.s.consume(':') {
			return dst, false
		}
		f := m.byName[string(name)]
		if f == nil {
			return dst, false // unknown field: protojson words the error
		}
		if seen[f.index/64]&(1<<(f.index%64)) != 0 {
			return dst, false // duplicate
		}
		seen[f.index/64] |= 1 << (f.index % 64)
		if f.oneof > 0 {
			if oneofs[f.oneof] {
				return dst, false
			}
			oneofs[f.oneof] = true
		}
		if dst, ok = t.field(dst, f, depth); !ok {
			return dst, false
		}
		if t.s.consume(',') {
			continue
		}
		return dst, t.s.consume('}')
	}
}

// field transcodes one field's JSON value: a list, a map or one value.
func (t *jsonTranscoder) field(dst []byte, f *jsonField, depth int) ([]byte, bool) {
	switch {
	case f.key != nil:
		return t.mapField(dst, f, depth)
	case f.list:
		if !t.s.consume('[') {
			return dst, false
		}
		if t.s.consume(']') {
			return dst, true
		}
		for {
			var ok bool
			if dst, ok = t.value(dst, f, depth); !ok {
				return dst, false
			}
			if t.s.consume(',') {
				continue
			}
			return dst, t.s.consume(']')
		}
	}
	return t.value(dst, f, depth)
}

// mapField transcodes a JSON object into map entries.
func (t *jsonTranscoder) mapField(dst []byte, f *jsonField, depth int) ([]byte, bool) {
	if !t.s.consume('{') {
		return dst, false
	}
	if t.s.consume('}') {
		return dst, true
	}
	var keys [][]byte // protojson refuses a key given twice
	for {
		key, ok := t.s.str()
		if !ok || !t.s.consume(':') {
			return dst, false
		}
		if slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) }) {
			return dst, false
		}
		keys = append(keys, key)
		dst = protowire.AppendTag(dst, f.num, protowire.BytesType)
		start := len(dst)
		dst = append(dst, 0)
		if dst, ok = t.mapKey(dst, f.key, key); !ok {
			return dst, false
		}
		if dst, ok = t.value(dst, f.value, depth); !ok {
			return dst, false
		}
		dst = fixLength(dst, start)
		if t.s.consume(',') {
			continue
		}
		return dst, t.s.consume('}')
	}
}

// mapKey encodes a map key, which JSON always quotes.
func (t *jsonTranscoder) mapKey(dst []byte, f *jsonField, key []byte) ([]byte, bool) {
	switch f.kind {
	case protoreflect.StringKind:
		dst = protowire.AppendTag(dst, f.num, protowire.BytesType)
		return protowire.AppendBytes(dst, key), true
	case protoreflect.BoolKind:
		switch string(key) {
		case "true":
			return protowire.AppendVarint(protowire.AppendTag(dst, f.num, protowire.VarintType), 1), true
		case "false":
			return protowire.AppendVarint(protowire.AppendTag(dst, f.num, protowire.VarintType), 0), true
		}
		return dst, false
	}
	if !isJSONInteger(key) {
		return dst, false
	}
	return appendInteger(dst, f, key)
}

// value transcodes one value of field f (an element, for lists).
func (t *jsonTranscoder) value(dst []byte, f *jsonField, depth int) ([]byte, bool) {
	switch f.kind {
	case protoreflect.GroupKind:
		return dst, false // proto2 groups: left to protojson
	case protoreflect.MessageKind:
		dst = protowire.AppendTag(dst, f.num, protowire.BytesType)
		start := len(dst)
		dst = append(dst, 0)
		var ok bool
		if dst, ok = t.message(dst, f.msg, depth+1); !ok {
			return dst, false
		}
		return fixLength(dst, start), true
	case protoreflect.StringKind:
		s, ok := t.s.str()
		if !ok {
			return dst, false
		}
		return protowire.AppendBytes(protowire.AppendTag(dst, f.num, protowire.BytesType), s), true
	case protoreflect.BytesKind:
		s, ok := t.s.str()
		if !ok {
			return dst, false
		}
		dst = protowire.AppendTag(dst, f.num, protowire.BytesType)
		start := len(dst)
		dst = append(dst, 0)
		n := base64.StdEncoding.DecodedLen(len(s))
		dst = slices.Grow(dst, n)
		got, err := base64.StdEncoding.Decode(dst[len(dst):len(dst)+n], s)
		if err != nil {
			return dst, false
		}
		return fixLength(dst[:len(dst)+got], start), true
	case protoreflect.BoolKind:
		var v uint64
		switch {
		case t.s.literal("true"):
			v = 1
		case t.s.literal("false"):
		default:
			return dst, false
		}
		return protowire.AppendVarint(protowire.AppendTag(dst, f.num, protowire.VarintType), v), true
	case protoreflect.EnumKind:
		if t.s.peek() == '"' {
			name, ok := t.s.str()
			if !ok {
				return dst, false
			}
			ev := f.enum.Values().ByName(protoreflect.Name(name))
			if ev == nil {
				return dst, false
			}
			return protowire.AppendVarint(protowire.AppendTag(dst, f.num, protowire.VarintType), uint64(int64(ev.Number()))), true
		}
		lit, integer := t.s.number()
		if !integer || !isJSONInteger(lit) || f.enum.IsClosed() {
			return dst, false
		}
		n, err := strconv.ParseInt(string(lit), 10, 32)
		if err != nil {
			return dst, false
		}
		return protowire.AppendVarint(protowire.AppendTag(dst, f.num, protowire.VarintType), uint64(n)), true
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		lit, _ := t.s.number()
		if lit == nil {
			return dst, false
		}
		if f.kind == protoreflect.FloatKind {
			v, err := strconv.ParseFloat(string(lit), 32)
			if err != nil {
				return dst, false
			}
			return protowire.AppendFixed32(protowire.AppendTag(dst, f.num, protowire.Fixed32Type), math.Float32bits(float32(v))), true
		}
		v, err := strconv.ParseFloat(string(lit), 64)
		if err != nil {
			return dst, false
		}
		return protowire.AppendFixed64(protowire.AppendTag(dst, f.num, protowire.Fixed64Type), math.Float64bits(v)), true
	}
	// Integers: a number, or a decimal string (protojson writes 64-bit
	// integers as strings).
	var lit []byte
	if t.s.peek() == '"' {
		s, ok := t.s.str()
		if !ok || !isJSONInteger(s) {
			return dst, false
		}
		lit = s
	} else {
		var integer bool
		if lit, integer = t.s.number(); !integer || !isJSONInteger(lit) {
			return dst, false
		}
	}
	return appendInteger(dst, f, lit)
}

// appendInteger encodes the decimal integer lit as field f.
func appendInteger(dst []byte, f *jsonField, lit []byte) ([]byte, bool) {
	bits := 64
	switch f.kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind, protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		bits = 32
	}
	switch f.kind {
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		v, err := strconv.ParseUint(string(lit), 10, bits)
		if err != nil {
			return dst, false
		}
		switch f.kind {
		case protoreflect.Fixed32Kind:
			return protowire.AppendFixed32(protowire.AppendTag(dst, f.num, protowire.Fixed32Type), uint32(v)), true
		case protoreflect.Fixed64Kind:
			return protowire.AppendFixed64(protowire.AppendTag(dst, f.num, protowire.Fixed64Type), v), true
		}
		return protowire.AppendVarint(protowire.AppendTag(dst, f.num, protowire.VarintType), v), true
	}
	v, err := strconv.ParseInt(string(lit), 10, bits)
	if err != nil {
		return dst, false
	}
	switch f.kind {
	case protoreflect.Int32Kind, protoreflect.Int64Kind:
		return protowire.AppendVarint(protowire.AppendTag(dst, f.num, protowire.VarintType), uint64(v)), true
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return protowire.AppendVarint(protowire.AppendTag(dst, f.num, protowire.VarintType), protowire.EncodeZigZag(v)), true
	case protoreflect.Sfixed32Kind:
		return protowire.AppendFixed32(protowire.AppendTag(dst, f.num, protowire.Fixed32Type), uint32(v)), true
	case protoreflect.Sfixed64Kind:
		return protowire.AppendFixed64(protowire.AppendTag(dst, f.num, protowire.Fixed64Type), uint64(v)), true
	}
	return dst, false
}

// anyPayload transcodes the event's payload: {"@type": URL, fields...}
// of the resolved contract, into Any's type_url and value.
func (t *jsonTranscoder) anyPayload(dst []byte, depth int) ([]byte, bool) {
	if t.payload == nil || t.payload.wkt != wktNone || !t.s.consume('{') {
		return dst, false
	}
	name, ok := t.s.str()
	if !ok || string(name) != "@type" || !t.s.consume(':') {
		return dst, false
	}
	url, ok := t.s.str()
	if !ok || TypeName(url) != string(t.payload.name) {
		return dst, false
	}
	dst = protowire.AppendBytes(protowire.AppendTag(dst, 1, protowire.BytesType), url)
	dst = protowire.AppendTag(dst, 2, protowire.BytesType)
	start := len(dst)
	dst = append(dst, 0)
	// The rest of the object is the contract's fields.
	switch {
	case t.s.consume('}'):
	case t.s.consume(','):
		if dst, ok = t.members(dst, t.payload, depth+1); !ok {
			return dst, false
		}
	default:
		return dst, false
	}
	return fixLength(dst, start), true
}

// timestamp transcodes "YYYY-MM-DDTHH:MM:SS[.fraction]Z".
func (t *jsonTranscoder) timestamp(dst []byte) ([]byte, bool) {
	s, ok := t.s.str()
	if !ok || len(s) < len("2006-01-02T15:04:05Z") || len(s) > len("2006-01-02T15:04:05.999999999Z") ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return dst, false
	}
	if frac := s[19 : len(s)-1]; len(frac) > 0 && (frac[0] != '.' || len(frac) == 1 || !allDigits(frac[1:])) {
		return dst, false
	}
	ts, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil || ts.Year() < 1 {
		return dst, false
	}
	return appendSecondsNanos(dst, ts.Unix(), int64(ts.Nanosecond())), true
}

// maxDurationSeconds is protobuf's bound on a Duration: 10 000 years.
const maxDurationSeconds = 315_576_000_000

// duration transcodes "[-]SECONDS[.fraction]s".
func (t *jsonTranscoder) duration(dst []byte) ([]byte, bool) {
	s, ok := t.s.str()
	if !ok || len(s) < 2 || s[len(s)-1] != 's' {
		return dst, false
	}
	s = s[:len(s)-1]
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	whole, frac := s, []byte(nil)
	for i, c := range s {
		if c == '.' {
			whole, frac = s[:i], s[i+1:]
			if len(frac) == 0 || len(frac) > 9 {
				return dst, false
			}
			break
		}
	}
	if len(whole) == 0 || !allDigits(whole) || !allDigits(frac) || (len(whole) > 1 && whole[0] == '0') {
		return dst, false
	}
	secs, err := strconv.ParseInt(string(whole), 10, 64)
	if err != nil || secs > maxDurationSeconds {
		return dst, false
	}
	var nanos int64
	for i := range 9 {
		nanos *= 10
		if i < len(frac) {
			nanos += int64(frac[i] - '0')
		}
	}
	if neg {
		secs, nanos = -secs, -nanos
	}
	return appendSecondsNanos(dst, secs, nanos), true
}

func appendSecondsNanos(dst []byte, secs, nanos int64) []byte {
	if secs != 0 {
		dst = protowire.AppendVarint(protowire.AppendTag(dst, 1, protowire.VarintType), uint64(secs))
	}
	if nanos != 0 {
		dst = protowire.AppendVarint(protowire.AppendTag(dst, 2, protowire.VarintType), uint64(nanos))
	}
	return dst
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isJSONInteger reports whether b is 0 or -?[1-9][0-9]* ("-0" is left to
// protojson: as a map key it would equal "0").
func isJSONInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
		if len(b) > 0 && b[0] == '0' {
			return false
		}
	}
	return len(b) > 0 && allDigits(b) && (len(b) == 1 || b[0] != '0')
}

// jsonScanner reads JSON tokens from data. Its methods skip white space
// first and return ok false on anything malformed.
type jsonScanner struct {
	data []byte
	pos  int
}

func (s *jsonScanner) peek() byte {
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

func (s *jsonScanner) consume(c byte) bool {
	if s.peek() == c {
		s.pos++
		return true
	}
	return false
}

func (s *jsonScanner) literal(lit string) bool {
	s.peek()
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return false
	}
	s.pos += len(lit)
	return true
}

// number reads a JSON number: its text, and whether it is an integer (no
// fraction, no exponent). lit is nil when there is none.
func (s *jsonScanner) number() (lit []byte, integer bool) {
	s.peek()
	start, i, d := s.pos, s.pos, s.data
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = skipDigits(d, i)
	default:
		return nil, false
	}
	integer = true
	if i < len(d) && d[i] == '.' {
		integer = false
		if i = skipDigits(d, i+1); i < 0 {
			return nil, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		integer = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i = skipDigits(d, i); i < 0 {
			return nil, false
		}
	}
	s.pos = i
	return d[start:i], integer
}

// skipDigits returns the index after the digits starting at d[i], or -1
// when there is none.
func skipDigits(d []byte, i int) int {
	j := i
	for j < len(d) && d[j] >= '0' && d[j] <= '9' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// str reads a JSON string: its bytes, unescaped, valid UTF-8. Without
// escapes they alias data.
func (s *jsonScanner) str() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.pos
	for i := start; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			b := s.data[start:i]
			if !utf8.Valid(b) {
				return nil, false
			}
			s.pos = i + 1
			return b, true
		case c == '\\':
			return s.escapedString(start)
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// escapedString is str for strings with escapes.
func (s *jsonScanner) escapedString(start int) ([]byte, bool) {
	var out []byte
	d := s.data
	for i := start; i < len(d); {
		c := d[i]
		switch {
		case c == '"':
			if !utf8.Valid(out) {
				return nil, false
			}
			s.pos = i + 1
			return out, true
		case c < 0x20:
			return nil, false
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(d) {
			return nil, false
		}
		switch e := d[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := hex4(d[i+2:])
			if n == 0 {
				return nil, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// Only a whole pair makes a rune; a lone half is left
				// to protojson.
				if i+1 >= len(d) || d[i] != '\\' || d[i+1] != 'u' {
					return nil, false
				}
				r2, n2 := hex4(d[i+2:])
				if n2 == 0 {
					return nil, false
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return nil, false
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, false
		}
		i += 2
	}
	return nil, false
}

// hex4 reads four hex digits; n is 0 when there are not.
func hex4(b []byte) (r rune, n int) {
	if len(b) < 4 {
		return 0, 0
	}
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, 0
		}
	}
	return r, 4
}

// skip reads one JSON value of any kind; ok is false when it is malformed
// (or nests deeper than wire.MaxDepth).
func (s *jsonScanner) skip(depth int) bool {
	if depth > wire.MaxDepth {
		return false
	}
	switch s.peek() {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		open := s.data[s.pos]
		end := byte('}')
		if open == '[' {
			end = ']'
		}
		s.pos++
		if s.consume(end) {
			return true
		}
		for {
			if open == '{' {
				if _, ok := s.str(); !ok || !s.consume(':') {
					return false
				}
			}
			if !s.skip(depth + 1) {
				return false
			}
			if s.consume(',') {
				continue
			}
			return s.consume(end)
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	lit, _ := s.number()
	return lit != nil
}

// SplitEvents reads a CollectRequest, {"events": [...]}, into its events'
// JSON. ok is false for anything else, and encoding/json words the error.
func SplitEvents(body []byte) (events []json.RawMessage, ok bool) {
	s := jsonScanner{data: body}
	if !s.consume('{') {
		return nil, false
	}
	if name, ok := s.str(); !ok || string(name) != "events" || !s.consume(':') || !s.consume('[') {
		return nil, false
	}
	if !s.consume(']') {
		for {
			s.peek()
			start := s.pos
			if !s.skip(0) {
				return nil, false
			}
			events = append(events, body[start:s.pos])
			if s.consume(',') {
				continue
			}
			if !s.consume(']') {
				return nil, false
			}
			break
		}
	}
	return events, s.consume('}') && s.peek() == 0 && s.pos == len(body)
}

// EventHead is what an event's schema is resolved by, read before its
// payload can be decoded: the payload's type URL and the pinned schema,
// and the id for error reports.
type EventHead struct {
	ID      string
	TypeURL string
	Pinned  int64
}

// PeekEvent reads an event's head with the scanner. It gives up (and
// the slow peek decides) on any top-level name that is not exactly one of
// Event's, on a repeated one, and unless the payload's "@type" comes first
// and only once, so that whenever it succeeds it reads what encoding/json
// would.
func PeekEvent(raw []byte) (h EventHead, ok bool) {
	s := jsonScanner{data: raw}
	if !s.consume('{') || s.consume('}') {
		return h, false
	}
	var seen [5]bool
	for {
		name, ok := s.str()
		if !ok || !s.consume(':') {
			return h, false
		}
		i := eventMemberIndex(name)
		if i < 0 || seen[i] {
			return h, false
		}
		seen[i] = true
		switch i {
		case 0: // event id
			id, ok := s.str()
			if !ok {
				return h, false
			}
			h.ID = string(id)
		case 1: // payload
			if !s.consume('{') {
				return h, false
			}
			if at, ok := s.str(); !ok || string(at) != "@type" || !s.consume(':') {
				return h, false
			}
			url, ok := s.str()
			if !ok || !s.skipPayloadRest() {
				return h, false
			}
			h.TypeURL = string(url)
		case 4: // schema id
			var lit []byte
			if s.peek() == '"' {
				lit, ok = s.str()
			} else {
				lit, _ = s.number()
			}
			if !ok || !isJSONInteger(lit) {
				return h, false
			}
			if h.Pinned, ok = parseInt64(lit); !ok {
				return h, false
			}
		default:
			if !s.skip(0) {
				return h, false
			}
		}
		if s.consume(',') {
			continue
		}
		return h, h.TypeURL != "" && s.consume('}') && s.peek() == 0 && s.pos == len(raw)
	}
}

// eventMemberIndex numbers Event's members by either of their names: 0 id,
// 1 payload, 2 time, 3 attributes, 4 schema id; -1 for anything else.
func eventMemberIndex(name []byte) int {
	switch string(name) {
	case "eventId", "event_id":
		return 0
	case "payload":
		return 1
	case "eventTime", "event_time":
		return 2
	case "attributes":
		return 3
	case "schemaId", "schema_id":
		return 4
	}
	return -1
}

// skipPayloadRest skips the payload's members after "@type" and its closing
// brace, giving up on a second "@type" in any letter case (encoding/json
// would read the last).
func (s *jsonScanner) skipPayloadRest() bool {
	if s.consume('}') {
		return true
	}
	if !s.consume(',') {
		return false
	}
	for {
		name, ok := s.str()
		if !ok || bytes.EqualFold(name, []byte("@type")) || !s.consume(':') || !s.skip(1) {
			return false
		}
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

func parseInt64(lit []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(lit), 10, 64)
	return n, err == nil
}

// TypeName is the message a type URL names: the part after its last
// slash (all of it when there is none).
func TypeName[URL ~string | ~[]byte](url URL) string {
	for i := len(url) - 1; i >= 0; i-- {
		if url[i] == '/' {
			return string(url[i+1:])
		}
	}
	return string(url)
}
