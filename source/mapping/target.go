package mapping

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// target is what a mapped value must become.
type target struct {
	kind      protoreflect.Kind // the scalar kind (a wrapper's value kind)
	timestamp bool              // google.protobuf.Timestamp
	wrapper   protoreflect.FullName
	list      bool
	enum      protoreflect.EnumDescriptor
	enumNames map[string]int32 // names with and without the enum's prefix, and upper-cased
}

var wrappers = map[protoreflect.FullName]protoreflect.Kind{
	"google.protobuf.DoubleValue": protoreflect.DoubleKind,
	"google.protobuf.FloatValue":  protoreflect.FloatKind,
	"google.protobuf.Int64Value":  protoreflect.Int64Kind,
	"google.protobuf.UInt64Value": protoreflect.Uint64Kind,
	"google.protobuf.Int32Value":  protoreflect.Int32Kind,
	"google.protobuf.UInt32Value": protoreflect.Uint32Kind,
	"google.protobuf.BoolValue":   protoreflect.BoolKind,
	"google.protobuf.StringValue": protoreflect.StringKind,
	"google.protobuf.BytesValue":  protoreflect.BytesKind,
}

const timestampName = "google.protobuf.Timestamp"

// isLeafMessage reports messages mapped as one value.
func isLeafMessage(md protoreflect.MessageDescriptor) bool {
	_, w := wrappers[md.FullName()]
	return w || md.FullName() == timestampName
}

// targetOf returns what fd takes, or false when a mapping cannot set it as
// one value (maps, messages other than Timestamp and the wrappers).
func targetOf(fd protoreflect.FieldDescriptor) (target, bool) {
	if fd.IsMap() {
		return target{}, false
	}
	t := target{kind: fd.Kind(), list: fd.IsList()}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		name := fd.Message().FullName()
		switch {
		case name == timestampName:
			t.timestamp = true
		case wrappers[name] != 0:
			t.wrapper, t.kind = name, wrappers[name]
			if t.list {
				return target{}, false
			}
		default:
			return target{}, false
		}
	case protoreflect.EnumKind:
		t.enum = fd.Enum()
		t.enumNames = enumNames(fd.Enum())
	}
	return t, true
}

func enumNames(ed protoreflect.EnumDescriptor) map[string]int32 {
	prefix := upperSnake(string(ed.Name())) + "_"
	names := map[string]int32{}
	vals := ed.Values()
	for i := range vals.Len() {
		v := vals.Get(i)
		n := string(v.Name())
		for _, k := range []string{n, strings.TrimPrefix(n, prefix)} {
			if _, dup := names[k]; !dup {
				names[k] = int32(v.Number())
			}
		}
	}
	return names
}

func upperSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func (t target) String() string {
	var s string
	switch {
	case t.timestamp:
		s = timestampName
	case t.wrapper != "":
		s = string(t.wrapper)
	case t.enum != nil:
		s = "enum " + string(t.enum.FullName())
	default:
		s = t.kind.String()
	}
	if t.list {
		return "repeated " + s
	}
	return s
}

// accepts reports whether a CEL expression of type ct can set t. dyn
// (JSON and Parquet values) is checked per record.
func accepts(t target, ct *types.Type) bool {
	if ct.Kind() == types.OpaqueKind && ct.TypeName() == "optional_type" && len(ct.Parameters()) == 1 {
		ct = ct.Parameters()[0]
	}
	switch ct.Kind() {
	case types.DynKind, types.NullTypeKind, types.AnyKind:
		return true
	}
	if t.list {
		if ct.Kind() != types.ListKind {
			return false
		}
		e := ct.Parameters()[0]
		t.list = false
		return e.Kind() == types.DynKind || accepts(t, e)
	}
	switch k := ct.Kind(); {
	case t.timestamp:
		return k == types.TimestampKind
	case t.enum != nil:
		return k == types.IntKind || k == types.StringKind
	}
	switch t.kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return ct.Kind() == types.IntKind
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return ct.Kind() == types.UintKind || ct.Kind() == types.IntKind
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return ct.Kind() == types.DoubleKind || ct.Kind() == types.IntKind || ct.Kind() == types.UintKind
	case protoreflect.BoolKind:
		return ct.Kind() == types.BoolKind
	case protoreflect.StringKind:
		return ct.Kind() == types.StringKind
	case protoreflect.BytesKind:
		return ct.Kind() == types.BytesKind || ct.Kind() == types.StringKind
	}
	return false
}

func celTypeName(ct *types.Type) string {
	if ct.Kind() == types.TimestampKind {
		return "timestamp"
	}
	return ct.String()
}

// value is one mapped value, as the encoder needs it.
type value struct {
	set  bool
	i    int64   // ints, enums, bools, a timestamp's seconds
	u    uint64  // uints, a timestamp's nanos
	f    float64 // doubles, floats
	s    string  // strings, bytes
	list []value
}

// convErr is a conversion failure; quote is the offending text, which the
// caller adds to the message unless the value may be personal data.
type convErr struct {
	msg   string
	quote string
}

func (e *convErr) Error() string { return e.msg }

func badText(msg, s string) *convErr { return &convErr{msg: msg, quote: s} }

// fromText converts a column's text. An empty cell leaves the field unset.
func (t target) fromText(s string) (value, *convErr) {
	if s == "" {
		return value{}, nil
	}
	switch {
	case t.timestamp:
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return value{}, badText("not an RFC 3339 timestamp (2026-12-07T10:00:00Z)", s)
		}
		return timestampValue(ts)
	case t.enum != nil:
		if n, ok := t.enumNames[s]; ok {
			return value{set: true, i: int64(n)}, nil
		}
		if n, ok := t.enumNames[strings.ToUpper(s)]; ok {
			return value{set: true, i: int64(n)}, nil
		}
		if n, err := strconv.ParseInt(s, 10, 32); err == nil {
			return value{set: true, i: n}, nil
		}
		return value{}, badText("no value of enum "+string(t.enum.FullName())+" is named so", s)
	}
	switch t.kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return value{}, badText(intErr(err, "a 32-bit integer"), s)
		}
		return value{set: true, i: n}, nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return value{}, badText(intErr(err, "a 64-bit integer"), s)
		}
		return value{set: true, i: n}, nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return value{}, badText(intErr(err, "an unsigned 32-bit integer"), s)
		}
		return value{set: true, u: n}, nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return value{}, badText(intErr(err, "an unsigned 64-bit integer"), s)
		}
		return value{set: true, u: n}, nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if strings.ContainsFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789+-.eE", r) }) {
			return value{}, badText("not a number (digits, '.', an exponent)", s)
		}
		bits := 64
		if t.kind == protoreflect.FloatKind {
			bits = 32
		}
		f, err := strconv.ParseFloat(s, bits)
		if err != nil {
			return value{}, badText(intErr(err, "a number"), s)
		}
		return value{set: true, f: f}, nil
	case protoreflect.BoolKind:
		switch strings.ToLower(s) {
		case "true", "1":
			return value{set: true, i: 1}, nil
		case "false", "0":
			return value{set: true}, nil
		}
		return value{}, badText("not a bool (true, false, 1, 0)", s)
	case protoreflect.StringKind:
		if !utf8.ValidString(s) {
			return value{}, &convErr{msg: "not valid UTF-8"}
		}
		return value{set: true, s: s}, nil
	case protoreflect.BytesKind:
		return value{set: true, s: s}, nil
	}
	return value{}, &convErr{msg: "cannot set a " + t.String()}
}

func intErr(err error, what string) string {
	if errors.Is(err, strconv.ErrRange) {
		return "out of range for " + what
	}
	return "not " + what
}

func timestampValue(ts time.Time) (value, *convErr) {
	// The range of google.protobuf.Timestamp: years 1 to 9999.
	if y := ts.UTC().Year(); y < 1 || y > 9999 {
		return value{}, &convErr{msg: "timestamp out of range (years 1 to 9999)"}
	}
	return value{set: true, i: ts.Unix(), u: uint64(ts.Nanosecond())}, nil
}

// fromAny converts a JSON or Parquet column's value.
func (t target) fromAny(v any) (value, *convErr) {
	switch x := v.(type) {
	case nil:
		return value{}, nil
	case string:
		return t.fromText(x)
	case json.Number:
		return t.fromText(string(x))
	case time.Time:
		if t.timestamp {
			return timestampValue(x)
		}
		return value{}, &convErr{msg: "is a timestamp, field is " + t.String()}
	case []byte:
		if t.kind == protoreflect.BytesKind && t.enum == nil && !t.timestamp {
			return value{set: true, s: string(x)}, nil
		}
		return t.fromText(string(x))
	case map[string]any:
		return value{}, &convErr{msg: "is an object, field is " + t.String()}
	case []any:
		return value{}, &convErr{msg: "is a list, field is " + t.String()}
	}
	return t.fromVal(types.DefaultTypeAdapter.NativeToValue(v))
}

// fromString converts a CEL string (fromVal's types.String), not of a
// list.
func (t target) fromString(x string) (value, *convErr) {
	if t.kind == protoreflect.StringKind && t.enum == nil && !t.timestamp {
		if !utf8.ValidString(x) {
			return value{}, &convErr{msg: "not valid UTF-8"}
		}
		return value{set: true, s: x}, nil
	}
	if t.kind == protoreflect.BytesKind {
		return value{set: true, s: x}, nil
	}
	return t.fromText(x) // dyn: a JSON string holding a number, a name, a time
}

// fromVal converts the result of a CEL expression. The checker has made
// sure the types fit unless the expression is dyn (JSON and Parquet).
func (t target) fromVal(v ref.Val) (value, *convErr) {
	switch x := v.(type) {
	case *types.Err:
		return value{}, &convErr{msg: x.Error()}
	case *types.Optional:
		if !x.HasValue() {
			return value{}, nil
		}
		return t.fromVal(x.GetValue())
	case types.Null:
		return value{}, nil
	}
	if t.list {
		l, ok := v.(traits.Lister)
		if !ok {
			return value{}, &convErr{msg: "expression gave " + typeName(v) + ", field is " + t.String()}
		}
		n := int(l.Size().(types.Int))
		out := value{set: true, list: make([]value, 0, n)}
		t.list = false
		for i := range n {
			e, err := t.fromVal(l.Get(types.Int(i)))
			if err != nil {
				err.msg = fmt.Sprintf("element %d: %s", i, err.msg)
				return value{}, err
			}
			if !e.set {
				return value{}, &convErr{msg: fmt.Sprintf("element %d is null", i)}
			}
			out.list = append(out.list, e)
		}
		return out, nil
	}
	switch x := v.(type) {
	case types.String:
		return t.fromString(string(x))
	case types.Bytes:
		if t.kind == protoreflect.BytesKind {
			return value{set: true, s: string(x)}, nil
		}
	case types.Timestamp:
		if t.timestamp {
			return timestampValue(x.Time)
		}
	case types.Bool:
		if t.kind == protoreflect.BoolKind {
			if x {
				return value{set: true, i: 1}, nil
			}
			return value{set: true}, nil
		}
	case types.Int:
		return t.fromInt(int64(x))
	case types.Uint:
		if t.isUint() {
			return t.checkUint(uint64(x))
		}
		if uint64(x) > math.MaxInt64 {
			return value{}, &convErr{msg: fmt.Sprintf("%d is out of range for %s", uint64(x), t)}
		}
		return t.fromInt(int64(x))
	case types.Double:
		if t.kind == protoreflect.DoubleKind || t.kind == protoreflect.FloatKind {
			return t.checkFloat(float64(x))
		}
		// dyn: a JSON number such as 12.0 for an integer field.
		f := float64(x)
		if t.enum == nil && !t.timestamp && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			if t.isUint() && f >= 0 {
				return t.checkUint(uint64(f))
			}
			if t.isInt() {
				return t.fromInt(int64(f))
			}
		}
	}
	return value{}, &convErr{msg: "expression gave " + typeName(v) + ", field is " + t.String()}
}

func (t target) isInt() bool {
	switch t.kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return t.enum == nil
	}
	return false
}

func (t target) isUint() bool {
	switch t.kind {
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return true
	}
	return false
}

func (t target) fromInt(n int64) (value, *convErr) {
	switch {
	case t.timestamp:
	case t.enum != nil:
		if n < math.MinInt32 || n > math.MaxInt32 {
			return value{}, &convErr{msg: fmt.Sprintf("%d is out of range for %s", n, t)}
		}
		return value{set: true, i: n}, nil
	case t.isInt():
		if (t.kind == protoreflect.Int32Kind || t.kind == protoreflect.Sint32Kind || t.kind == protoreflect.Sfixed32Kind) && (n < math.MinInt32 || n > math.MaxInt32) {
			return value{}, &convErr{msg: fmt.Sprintf("%d is out of range for %s", n, t)}
		}
		return value{set: true, i: n}, nil
	case t.isUint():
		if n < 0 {
			return value{}, &convErr{msg: fmt.Sprintf("%d is out of range for %s", n, t)}
		}
		return t.checkUint(uint64(n))
	case t.kind == protoreflect.DoubleKind || t.kind == protoreflect.FloatKind:
		return t.checkFloat(float64(n))
	}
	return value{}, &convErr{msg: "expression gave int, field is " + t.String()}
}

func (t target) checkUint(n uint64) (value, *convErr) {
	if (t.kind == protoreflect.Uint32Kind || t.kind == protoreflect.Fixed32Kind) && n > math.MaxUint32 {
		return value{}, &convErr{msg: fmt.Sprintf("%d is out of range for %s", n, t)}
	}
	return value{set: true, u: n}, nil
}

func (t target) checkFloat(f float64) (value, *convErr) {
	if t.kind == protoreflect.FloatKind && !math.IsInf(f, 0) && math.Abs(f) > math.MaxFloat32 {
		return value{}, &convErr{msg: fmt.Sprintf("%g is out of range for float", f)}
	}
	return value{set: true, f: f}, nil
}

func typeName(v ref.Val) string {
	if v == nil {
		return "nothing"
	}
	if v.Type() == types.TimestampType {
		return "timestamp"
	}
	return v.Type().TypeName()
}

// keyText is a key field's value as text: what the event id is built from.
func (t target) keyText(v value) string {
	switch {
	case !v.set:
		return ""
	case t.timestamp:
		return time.Unix(v.i, int64(v.u)).UTC().Format(time.RFC3339Nano)
	case t.enum != nil:
		if ev := t.enum.Values().ByNumber(protoreflect.EnumNumber(v.i)); ev != nil {
			return string(ev.Name())
		}
		return strconv.FormatInt(v.i, 10)
	}
	switch t.kind {
	case protoreflect.StringKind:
		return v.s
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString([]byte(v.s))
	case protoreflect.BoolKind:
		return strconv.FormatBool(v.i != 0)
	case protoreflect.FloatKind:
		return strconv.FormatFloat(v.f, 'g', -1, 32)
	case protoreflect.DoubleKind:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	}
	if t.isUint() {
		return strconv.FormatUint(v.u, 10)
	}
	return strconv.FormatInt(v.i, 10)
}
