package contract

import (
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The values of the mapped types (docs/EVOLUTION.md section 7) that take
// more than a Get: the sinks that convert decoded messages (the DuckDB
// warehouse, the archive's typed columns) read them here, so a column
// holds the same value in every place that shows it. The BigQuery sink
// transcodes payload bytes instead and implements the same rules on the
// wire. Decoders that read the well-known messages' fields from the wire
// themselves (the archive's) convert them with the *Of functions, which
// the message readers call too.

// Field numbers of the well-known messages read below (stable by their
// own compatibility promise).
const (
	wktSeconds = 1 // Timestamp, Duration
	wktNanos   = 2
	dateYear   = 1 // google.type.Date
	dateMonth  = 2
	dateDay    = 3
	wrapperVal = 1 // google.protobuf.*Value
)

// EnumValue is the STRING an enum value maps to: its name, or the decimal
// of a number the descriptor does not know (a newer producer's value).
func EnumValue(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	if ed != nil {
		if ev := ed.Values().ByNumber(n); ev != nil {
			return string(ev.Name())
		}
	}
	return strconv.FormatInt(int64(n), 10)
}

// TimestampValue reads a google.protobuf.Timestamp message (TIMESTAMP).
func TimestampValue(m protoreflect.Message) time.Time {
	f := m.Descriptor().Fields()
	return TimestampOf(m.Get(f.ByNumber(wktSeconds)).Int(), m.Get(f.ByNumber(wktNanos)).Int())
}

// TimestampOf is the TIMESTAMP of a Timestamp's seconds and nanos fields
// (nanos sign-extended from its int32). Nanos outside [0, 1e9) are
// normalized into the seconds, as time.Unix does.
func TimestampOf(seconds, nanos int64) time.Time { return time.Unix(seconds, nanos).UTC() }

// DurationMicros reads a google.protobuf.Duration message (INTERVAL) as
// microseconds, the precision of both warehouses.
func DurationMicros(m protoreflect.Message) int64 {
	f := m.Descriptor().Fields()
	return DurationMicrosOf(m.Get(f.ByNumber(wktSeconds)).Int(), m.Get(f.ByNumber(wktNanos)).Int())
}

// DurationMicrosOf is the INTERVAL of a Duration's seconds and nanos
// fields, in microseconds (nanos truncated toward zero).
func DurationMicrosOf(seconds, nanos int64) int64 { return seconds*1_000_000 + nanos/1000 }

// DateValue reads a google.type.Date message (DATE) as midnight UTC.
func DateValue(m protoreflect.Message) time.Time {
	f := m.Descriptor().Fields()
	return DateOf(m.Get(f.ByNumber(dateYear)).Int(), m.Get(f.ByNumber(dateMonth)).Int(), m.Get(f.ByNumber(dateDay)).Int())
}

// DateOf is the DATE of a google.type.Date's year, month and day fields,
// as midnight UTC; out-of-range months and days normalize as in time.Date.
func DateOf(year, month, day int64) time.Time {
	return time.Date(int(year), time.Month(month), int(day), 0, 0, 0, 0, time.UTC)
}

// JSONValue is the JSON text of a google.protobuf.Struct, Value or
// ListValue message (JSON).
func JSONValue(m protoreflect.Message) ([]byte, error) {
	return protojson.Marshal(m.Interface())
}

// Unwrap returns the value inside a google.protobuf wrapper message (its
// column is the wrapped scalar) and the field that holds it.
func Unwrap(m protoreflect.Message) (protoreflect.Value, protoreflect.FieldDescriptor) {
	fd := m.Descriptor().Fields().ByNumber(wrapperVal)
	return m.Get(fd), fd
}
