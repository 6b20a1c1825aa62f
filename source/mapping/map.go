package mapping

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/hemlabs/hem/source/read"
)

// Mapped is one record, mapped.
type Mapped struct {
	Payload   []byte    // the contract message, deterministic proto encoding
	EventTime time.Time // zero when the declaration has no event_time (or it gave none)
	Key       []string  // the key fields' values, in declaration order (nil without a key)
}

const withheldValue = "[PII withheld]"

// Map maps one record. A record that cannot be mapped gives a *MapError,
// which never quotes a value of a PII column. Map is safe for concurrent
// use.
func (m *Mapping) Map(rec read.Record) (Mapped, error) {
	st, _ := m.states.Get().(*state)
	if st == nil {
		st = &state{vals: make([]value, len(m.leaves))}
	}
	defer m.release(st)
	var (
		act    interpreter.Activation
		hi     *headerIndex
		values []string
	)
	if m.format == formatCSV {
		hi = m.headerIndex(rec.Header)
		values = rec.Values
		st.row = csvRow{hi: hi, values: values}
		act = &st.row
	} else {
		st.obj = objectRow{obj: rec.Object}
		act = &st.obj
	}
	vals := st.vals
	for _, l := range m.leaves {
		if l.dup != nil {
			vals[l.slot] = vals[l.dup.slot]
			continue
		}
		v, err := m.eval(l, act, hi, values, rec.Object)
		if err != nil {
			return Mapped{}, err
		}
		vals[l.slot] = v
	}
	for _, o := range m.oneofs {
		var set []string
		for _, l := range o {
			if vals[l.slot].set {
				set = append(set, l.path)
			}
		}
		if len(set) > 1 {
			return Mapped{}, &MapError{Field: set[1], Message: "fields " + strings.Join(set, " and ") + " are in one oneof: only one may be set"}
		}
	}
	out := Mapped{Payload: appendMessage(make([]byte, 0, m.sizeHint), m.root, vals)}
	if m.event != nil {
		var v value
		if m.event.dup != nil {
			v = vals[m.event.dup.slot]
		} else {
			var err error
			if v, err = m.eval(m.event, act, hi, values, rec.Object); err != nil {
				return Mapped{}, err
			}
		}
		if v.set {
			out.EventTime = time.Unix(v.i, int64(v.u)).UTC()
		}
	}
	if len(m.key) > 0 {
		out.Key = make([]string, len(m.key))
		for i, l := range m.key {
			out.Key[i] = l.tg.keyText(vals[l.slot])
		}
	}
	return out, nil
}

// state is what one Map call needs beyond its result, reused through a
// pool: the row CEL reads and the mapped values.
type state struct {
	row  csvRow
	obj  objectRow
	vals []value
}

func (m *Mapping) release(st *state) {
	clear(st.vals)
	st.row, st.obj = csvRow{}, objectRow{}
	m.states.Put(st)
}

// eval computes one leaf: a column read, or its expression.
func (m *Mapping) eval(l *leaf, act interpreter.Activation, hi *headerIndex, values []string, obj map[string]any) (value, error) {
	var (
		v    value
		cerr *convErr
	)
	switch {
	case l.constant:
		return l.value, nil
	case l.column != "" && hi != nil:
		i := hi.cols[l.colSlot]
		if i < 0 || i >= len(values) {
			return value{}, &MapError{Field: l.path, Column: l.column, Message: "the record has no column " + l.column}
		}
		v, cerr = l.tg.fromText(values[i])
	case l.column != "":
		v, cerr = l.tg.fromAny(obj[l.column])
	default:
		if s, ok := l.evalNativeString(hi, values); ok {
			v, cerr = l.tg.fromString(s) // as fromVal of the string, unboxed
		} else {
			out, ok := l.evalNative(hi, values)
			var err error
			if !ok {
				out, _, err = l.prg.Eval(act)
			}
			if err != nil {
				if l.withhold {
					return value{}, &MapError{Field: l.path, Column: l.errCol, Message: "the expression failed (its message is withheld: the field reads a PII column)"}
				}
				return value{}, &MapError{Field: l.path, Column: l.errCol, Message: err.Error()}
			}
			v, cerr = l.tg.fromVal(out)
		}
		if cerr != nil && cerr.quote == "" && l.withhold && l.column == "" {
			// A CEL error's text may hold a value.
			return value{}, &MapError{Field: l.path, Column: l.errCol, Message: "the expression gave a value the field cannot take (the message is withheld: the field reads a PII column)"}
		}
	}
	if cerr != nil {
		msg := cerr.msg
		if cerr.quote != "" {
			if l.withhold {
				msg += " (value withheld: PII)"
			} else {
				msg += ": " + strconv.Quote(cerr.quote)
			}
		}
		return value{}, &MapError{Field: l.path, Column: l.errCol, Message: msg}
	}
	return v, nil
}

// PIIColumns names the columns read by the mapping of any field with PII
// handling (hem.options.v1.field pii set), sorted: a record's text for
// FailedEvent.origin withholds their values.
func (m *Mapping) PIIColumns() []string {
	return append([]string(nil), m.pii...)
}

// WithholdPII returns rec's text for Origin.record with the values of the
// PII columns replaced by "[PII withheld]": a CSV line re-encoded with the
// declared delimiter, or a JSON object (keys sorted). Without PII columns
// it is the record as read.
func (m *Mapping) WithholdPII(rec read.Record) string {
	if len(m.pii) == 0 && !m.piiAll && rec.Raw != nil && utf8.Valid(rec.Raw) {
		return strings.TrimRight(string(rec.Raw), "\r\n")
	}
	pii := make(map[string]bool, len(m.pii))
	for _, c := range m.pii {
		pii[c] = true
	}
	if m.format == formatCSV {
		vals := make([]string, len(rec.Values))
		for i, v := range rec.Values {
			if m.piiAll || (i < len(rec.Header) && pii[rec.Header[i]]) {
				v = withheldValue
			}
			vals[i] = strings.ToValidUTF8(v, "\uFFFD")
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.Comma = m.delim
		_ = w.Write(vals) // a bytes.Buffer does not fail
		w.Flush()
		return strings.TrimRight(b.String(), "\r\n")
	}
	obj := make(map[string]any, len(rec.Object))
	for k, v := range rec.Object {
		if m.piiAll || pii[k] {
			v = withheldValue
		}
		obj[k] = v
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// evalNativeString is evalNative of a leaf whose native node gives a
// string, before it is boxed as a CEL value.
func (l *leaf) evalNativeString(hi *headerIndex, values []string) (string, bool) {
	if l.nativeStr == nil || hi == nil {
		return "", false
	}
	return l.nativeStr.str(hi, values)
}

// evalNative is the value of a native leaf (native.go); ok false when the
// CEL program must answer.
func (l *leaf) evalNative(hi *headerIndex, values []string) (ref.Val, bool) {
	if l.native == nil || hi == nil {
		return nil, false
	}
	return l.native.value(hi, values)
}
